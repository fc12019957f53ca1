using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;

namespace IIC.Grpc.Tests;

/// <summary>
/// tests/IIC.Grpc.TestServer as a real second process (<c>dotnet IIC.Grpc.TestServer.dll HYPERVISOR DIR SERVICE</c>).
/// Start waits (bounded) for "ready" and collects the addresses it printed; Kill ends it at once; Dispose kills it.
/// </summary>
internal sealed class TesterServerProcess : IDisposable
{
    private readonly Process _process;
    private readonly BlockingCollection<string> _lines = [];
    private readonly StringBuilder _output = new();

    private TesterServerProcess(Process process) => _process = process;

    public List<string> Addresses { get; } = [];

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    public static TesterServerProcess Start(string hypervisor, string directory, string service)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "IIC.Grpc.TestServer.dll");
        Assert.True(File.Exists(dll), $"The test server is missing: {dll}");
        var info = new ProcessStartInfo(IIC.Tests.Dotnet.HostPath())
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = AppContext.BaseDirectory,
        };
        foreach (var argument in new[] { dll, hypervisor, directory, service })
        {
            info.ArgumentList.Add(argument);
        }
        var server = new TesterServerProcess(new Process { StartInfo = info });
        server._process.OutputDataReceived += (_, e) => server.OnLine(e.Data, stdout: true);
        server._process.ErrorDataReceived += (_, e) => server.OnLine(e.Data, stdout: false);
        server._process.Start();
        server._process.BeginOutputReadLine();
        server._process.BeginErrorReadLine();
        try
        {
            server.WaitReady(TimeSpan.FromSeconds(90)); // ASP.NET Core can take tens of seconds to start on a loaded 2-core box
        }
        catch
        {
            server.Dispose();
            throw;
        }
        return server;
    }

    /// <summary>The address printed with the given scheme prefix.</summary>
    public string Address(string prefix) => Addresses.First(a => a.StartsWith(prefix, StringComparison.Ordinal));

    private void WaitReady(TimeSpan timeout)
    {
        var start = Stopwatch.GetTimestamp();
        while (true)
        {
            if (_lines.TryTake(out var line, TimeSpan.FromMilliseconds(100)))
            {
                if (line.StartsWith("listening ", StringComparison.Ordinal))
                {
                    Addresses.Add(line["listening ".Length..]);
                }
                else if (line == "ready")
                {
                    return;
                }
                continue;
            }
            if (_process.HasExited)
            {
                Assert.Fail($"The test server exited ({_process.ExitCode}) before it was ready:\n{Output}");
            }
            if (Stopwatch.GetElapsedTime(start) > timeout)
            {
                Assert.Fail($"The test server was not ready within {timeout.TotalSeconds} s:\n{Output}");
            }
        }
    }

    private void OnLine(string? line, bool stdout)
    {
        if (line is null)
        {
            return;
        }
        lock (_output)
        {
            _output.AppendLine(line);
        }
        if (stdout)
        {
            _lines.Add(line);
        }
    }

    /// <summary>SIGKILL: the process dies mid-whatever, as a crash would.</summary>
    public void Kill()
    {
        _process.Kill(entireProcessTree: true);
        _process.WaitForExit(TimeSpan.FromSeconds(30));
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                Kill();
            }
        }
        catch (InvalidOperationException)
        {
            // already gone
        }
        _process.Dispose();
    }
}

using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;

namespace IIC.AspNetCore.Tests;

/// <summary>
/// samples/Greeter.Server as a real second process (<c>dotnet Greeter.Server.dll --Key=Value ...</c>, built next to the
/// tests). Start waits (bounded) for its "ready" line and collects the addresses it listens on; Dispose kills it.
/// </summary>
internal sealed class GreeterServerProcess : IDisposable
{
    private readonly Process _process;
    private readonly BlockingCollection<string> _lines = [];
    private readonly StringBuilder _output = new();

    private GreeterServerProcess(Process process)
    {
        _process = process;
    }

    /// <summary>The addresses printed by the server ("listening ADDRESS").</summary>
    public List<string> Addresses { get; } = [];

    public static GreeterServerProcess Start(params string[] configuration)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "Greeter.Server.dll");
        Assert.True(File.Exists(dll), $"The sample server is missing: {dll}");
        var info = new ProcessStartInfo(IIC.Tests.Dotnet.HostPath())
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = AppContext.BaseDirectory,
        };
        info.ArgumentList.Add(dll);
        foreach (var item in configuration)
        {
            info.ArgumentList.Add(item);
        }
        var server = new GreeterServerProcess(new Process { StartInfo = info });
        server._process.OutputDataReceived += (_, e) => server.OnLine(e.Data, stdout: true);
        server._process.ErrorDataReceived += (_, e) => server.OnLine(e.Data, stdout: false);
        server._process.Start();
        server._process.BeginOutputReadLine();
        server._process.BeginErrorReadLine();
        try
        {
            server.WaitReady(TimeSpan.FromSeconds(90)); // an ASP.NET Core process can take tens of seconds to start on a loaded 2-core machine
        }
        catch
        {
            server.Dispose();
            throw;
        }
        return server;
    }

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
                else if (line.StartsWith("ready", StringComparison.Ordinal))
                {
                    return;
                }
                continue;
            }
            if (_process.HasExited)
            {
                Assert.Fail($"The greeter server exited ({_process.ExitCode}) before it was ready:\n{Output}");
            }
            if (Stopwatch.GetElapsedTime(start) > timeout)
            {
                Assert.Fail($"The greeter server was not ready within {timeout.TotalSeconds} s:\n{Output}");
            }
        }
    }

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

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(TimeSpan.FromSeconds(10));
            }
        }
        catch (InvalidOperationException)
        {
            // already gone
        }
        _process.Dispose();
    }
}

using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;

namespace IIC.Tests;

/// <summary>
/// A server program built next to the tests, run as a real second process (<c>dotnet PROGRAM.dll ARGS</c>).
/// Start waits (bounded) for its "ready" line and collects the addresses it prints ("listening ADDRESS");
/// Kill ends it at once, as a crash would; Dispose kills it if it still runs.
/// </summary>
public sealed class ServerProcess : IDisposable
{
    private readonly Process _process;
    private readonly string _what;
    private readonly BlockingCollection<string> _lines = [];
    private readonly StringBuilder _output = new();

    private ServerProcess(Process process, string what)
    {
        _process = process;
        _what = what;
    }

    /// <summary>The addresses printed by the server ("listening ADDRESS").</summary>
    public List<string> Addresses { get; } = [];

    /// <summary>Everything the server wrote so far, stdout and stderr.</summary>
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

    /// <summary>Starts <paramref name="program"/> (a dll next to the tests) and waits until it says "ready".</summary>
    /// <param name="program">The dll's file name, e.g. <c>Greeter.Server.dll</c>.</param>
    /// <param name="what">How failures name it, e.g. "greeter server".</param>
    /// <param name="arguments">Its command-line arguments.</param>
    public static ServerProcess Start(string program, string what, params string[] arguments)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, program);
        Assert.True(File.Exists(dll), $"The {what} is missing: {dll}");
        var info = new ProcessStartInfo(Dotnet.HostPath())
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = AppContext.BaseDirectory,
        };
        info.ArgumentList.Add(dll);
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }
        var server = new ServerProcess(new Process { StartInfo = info }, what);
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

    /// <summary>The address printed with the given scheme prefix.</summary>
    public string Address(string prefix) => Addresses.First(a => a.StartsWith(prefix, StringComparison.Ordinal));

    /// <summary>The server's process id (to signal it: <see cref="Signal"/>, or a test's own probes of /proc).</summary>
    public int Id => _process.Id;

    /// <summary>
    /// Sends the server the signal <paramref name="name"/> (<c>kill -NAME PID</c>), e.g. <c>STOP</c> to freeze it as a
    /// stuck peer and <c>CONT</c> to let it go on. Fails the test if <c>kill</c> fails.
    /// </summary>
    public void Signal(string name)
    {
        var (code, output) = Programs.Run("kill", ["-" + name, _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        Assert.True(code == 0, $"kill -{name} {_process.Id} of the {_what} failed ({code}): {output}");
    }

    /// <summary>
    /// Waits until the process exited by itself (e.g. after SIGTERM) and everything it wrote reached <see cref="Output"/>;
    /// false when <paramref name="timeout"/> passed first.
    /// </summary>
    public bool WaitForExit(TimeSpan timeout)
    {
        if (!_process.WaitForExit(timeout))
        {
            return false;
        }
        // The timed overload does not wait for the redirected output's last lines (the docs say so); this one does, now
        // that the process is gone (a test read a shutdown log line as missing before it arrived).
        _process.WaitForExit();
        return true;
    }

    /// <summary>The exit code, once <see cref="WaitForExit"/> returned true.</summary>
    public int ExitCode => _process.ExitCode;

    /// <summary>SIGKILL: the process dies mid-whatever, as a crash would.</summary>
    public void Kill()
    {
        _process.Kill(entireProcessTree: true);
        _process.WaitForExit(TimeSpan.FromSeconds(30));
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
                Assert.Fail($"The {_what} exited ({_process.ExitCode}) before it was ready:\n{Output}");
            }
            if (Stopwatch.GetElapsedTime(start) > timeout)
            {
                Assert.Fail($"The {_what} was not ready within {timeout.TotalSeconds} s:\n{Output}");
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

    /// <inheritdoc />
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

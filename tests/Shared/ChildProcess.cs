using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using IIC.Native;

namespace IIC.Tests;

/// <summary>
/// A real child process running one scenario of the child test host (<c>dotnet IIC.TestHost.dll scenario args</c>,
/// found next to the test assembly). Its stdin, stdout and stderr are redirected; every wait is bounded and a
/// failure message carries the child's stderr and stdout.
/// <para>
/// Passing descriptors: before starting the child, the parent listens on a SOCK_SEQPACKET socket in a fresh 0700
/// temporary directory and puts its path in the child's environment (<see cref="ControlPathVariable"/>). A scenario
/// that needs descriptors connects to it (IIC.TestHost's ParentChannel) and the parent sends them with SCM_RIGHTS
/// over <see cref="Control"/>, which accepts that connection on first use. Nothing is inherited: every descriptor
/// in the parent stays close-on-exec, so tests running in parallel cannot leak descriptors into each other's children.
/// </para>
/// </summary>
/// <example>
/// <code>
/// using var child = ChildProcess.Start("memfd-map");
/// child.Send(header, memfd, eventfd);           // SCM_RIGHTS over the control socket
/// Assert.Equal("ready", child.ReadLine());      // stdout, bounded
/// child.AssertExit(0);                          // bounded; stderr in the failure message
/// </code>
/// </example>
public sealed class ChildProcess : IDisposable
{
    /// <summary>The environment variable holding the control socket's path.</summary>
    public const string ControlPathVariable = "IIC_TEST_CONTROL";

    private readonly string _scenario;
    private readonly string _directory;
    private readonly SeqPacketSocket _listener;
    private readonly BlockingCollection<string> _lines = [];
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();
    private readonly ManualResetEventSlim _stdoutClosed = new();
    private readonly ManualResetEventSlim _stderrClosed = new();
    private SeqPacketSocket? _control;

    private ChildProcess(string scenario, string directory, SeqPacketSocket listener, Process process)
    {
        _scenario = scenario;
        _directory = directory;
        _listener = listener;
        Process = process;
    }

    /// <summary>The child's <see cref="System.Diagnostics.Process"/> (pid, Kill, exit code).</summary>
    public Process Process { get; }

    /// <summary>The child's process id.</summary>
    public int Id => Process.Id;

    /// <summary>The path of the control socket the child may connect to.</summary>
    public string ControlPath => Path.Combine(_directory, "control.sock");

    /// <summary>Everything the child has written to stdout so far.</summary>
    public string StandardOutput
    {
        get
        {
            lock (_stdout)
            {
                return _stdout.ToString();
            }
        }
    }

    /// <summary>Everything the child has written to stderr so far.</summary>
    public string StandardError
    {
        get
        {
            lock (_stderr)
            {
                return _stderr.ToString();
            }
        }
    }

    /// <summary>
    /// The parent's end of the control connection: accepted from the child on first use, waiting at most
    /// <see cref="WaitFor.DefaultTimeout"/> (and failing at once, with its stderr, if the child exits without connecting).
    /// </summary>
    public SeqPacketSocket Control
    {
        get
        {
            if (_control is null)
            {
                var start = Stopwatch.GetTimestamp();
                while (!_listener.TryAccept(TimeSpan.FromMilliseconds(100), out _control))
                {
                    if (Process.HasExited)
                    {
                        Fail("exited before connecting to the control socket");
                    }
                    if (Stopwatch.GetElapsedTime(start) > WaitFor.DefaultTimeout)
                    {
                        Fail($"did not connect to the control socket within {WaitFor.DefaultTimeout.TotalSeconds} s");
                    }
                }
            }
            return _control;
        }
    }

    /// <summary>Starts <c>dotnet IIC.TestHost.dll <paramref name="scenario"/> <paramref name="args"/></c>.</summary>
    public static ChildProcess Start(string scenario, params string[] args)
    {
        ArgumentNullException.ThrowIfNull(scenario);
        ArgumentNullException.ThrowIfNull(args);
        var testHost = Path.Combine(AppContext.BaseDirectory, "IIC.TestHost.dll");
        if (!File.Exists(testHost))
        {
            Xunit.Assert.Fail($"The child test host is missing: {testHost}. The test project must reference tests/IIC.TestHost.");
        }
        var directory = Directory.CreateTempSubdirectory("iic-test-").FullName; // mode 0700
        var listener = SeqPacketSocket.Create();
        Process? process = null;
        try
        {
            listener.Bind(Path.Combine(directory, "control.sock"));
            listener.Listen(backlog: 1);
            var info = new ProcessStartInfo(Dotnet.HostPath())
            {
                UseShellExecute = false,
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                StandardOutputEncoding = Encoding.UTF8,
                StandardErrorEncoding = Encoding.UTF8,
            };
            info.ArgumentList.Add(testHost);
            info.ArgumentList.Add(scenario);
            foreach (var arg in args)
            {
                info.ArgumentList.Add(arg);
            }
            info.Environment[ControlPathVariable] = Path.Combine(directory, "control.sock");
            process = new Process { StartInfo = info };
            var child = new ChildProcess(scenario, directory, listener, process);
            process.OutputDataReceived += child.OnStdout;
            process.ErrorDataReceived += child.OnStderr;
            process.Start();
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            return child;
        }
        catch
        {
            process?.Dispose();
            listener.Dispose();
            Directory.Delete(directory, recursive: true);
            throw;
        }
    }

    /// <summary>Sends one message with descriptors attached (SCM_RIGHTS) over <see cref="Control"/>.</summary>
    public void Send(ReadOnlySpan<byte> message, params ReadOnlySpan<FileDescriptor> descriptors) => Control.Send(message, descriptors);

    /// <summary>Receives one message from the child over <see cref="Control"/>; fails the test if none comes within the timeout.</summary>
    /// <returns>The message length; 0 when the child hung up.</returns>
    public int Receive(Span<byte> buffer, ICollection<FileDescriptor>? descriptors = null, TimeSpan? timeout = null)
    {
        var limit = timeout ?? WaitFor.DefaultTimeout;
        if (!Control.TryReceive(buffer, descriptors, limit, out var received))
        {
            Fail($"sent no message within {limit.TotalSeconds} s");
        }
        return received;
    }

    /// <summary>The next line the child writes to stdout; fails the test if none comes within the timeout.</summary>
    public string ReadLine(TimeSpan? timeout = null)
    {
        var limit = timeout ?? WaitFor.DefaultTimeout;
        var start = Stopwatch.GetTimestamp();
        while (true)
        {
            if (_lines.TryTake(out var line, TimeSpan.FromMilliseconds(50)))
            {
                return line;
            }
            if (_stdoutClosed.IsSet && _lines.Count == 0)
            {
                Fail("closed stdout (exited?) before writing the expected line");
            }
            if (Stopwatch.GetElapsedTime(start) > limit)
            {
                Fail($"wrote no line to stdout within {limit.TotalSeconds} s");
            }
        }
    }

    /// <summary>Writes a line to the child's stdin.</summary>
    public void WriteLine(string line)
    {
        Process.StandardInput.WriteLine(line);
        Process.StandardInput.Flush();
    }

    /// <summary>Writes <paramref name="command"/> to the child's stdin and fails the test unless its next line is "ok".</summary>
    public void Command(string command, TimeSpan? timeout = null)
    {
        WriteLine(command);
        var answer = ReadLine(timeout);
        if (answer != "ok")
        {
            Fail($"answered \"{answer}\" to \"{command}\" instead of \"ok\"");
        }
    }

    /// <summary>Waits (bounded) for the child to exit and asserts its exit code; the failure message has its stderr and stdout.</summary>
    public void AssertExit(int expectedExitCode = 0, TimeSpan? timeout = null)
    {
        var limit = timeout ?? WaitFor.DefaultTimeout;
        if (!Process.WaitForExit(limit))
        {
            Kill();
            Fail($"did not exit within {limit.TotalSeconds} s (killed)");
        }
        // The exit is known; wait (bounded) for the last output to be read so the message is complete, and so callers
        // may assert on StandardError/StandardOutput right after (ChildProcessTests do): the readers are threads of
        // this process that a loaded box runs late, hence the default bound rather than 5 s.
        _stdoutClosed.Wait(WaitFor.DefaultTimeout);
        _stderrClosed.Wait(WaitFor.DefaultTimeout);
        if (Process.ExitCode != expectedExitCode)
        {
            Fail(string.Create(CultureInfo.InvariantCulture, $"exited with {Process.ExitCode}, expected {expectedExitCode}"));
        }
    }

    /// <summary>Kills the child (and anything it started), waiting a bounded time for it to go.</summary>
    /// <remarks>
    /// Callers go on to what the death causes (a survivor's PeerDead, the hypervisor's detach, <c>HasExited</c>) as if
    /// it had happened: the bound is the loaded-box one (<see cref="ServerProcess"/>'s kill waits as long), not 5 s.
    /// </remarks>
    public void Kill()
    {
        try
        {
            Process.Kill(entireProcessTree: true);
            Process.WaitForExit(TimeSpan.FromSeconds(30));
        }
        catch (InvalidOperationException)
        {
            // already exited
        }
    }

    /// <summary>Kills the child if it still runs, closes the sockets and removes the temporary directory.</summary>
    public void Dispose()
    {
        if (!Process.HasExited)
        {
            Kill();
        }
        _control?.Dispose();
        _listener.Dispose();
        // The output events and the line queue are not disposed: the process's reader threads may still
        // deliver the last lines (or the end of the streams) after this point.
        Process.Dispose();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
            // best effort; it is in the temporary directory
        }
    }

    /// <summary>A description of the child with its output so far, for failure messages.</summary>
    public override string ToString()
    {
        var state = Process.HasExited ? string.Create(CultureInfo.InvariantCulture, $"exit code {Process.ExitCode}") : "running";
        return $"child '{_scenario}' (pid {Process.Id}, {state}){Environment.NewLine}--- stderr ---{Environment.NewLine}{StandardError}--- stdout ---{Environment.NewLine}{StandardOutput}";
    }

    private void Fail(string what) => Xunit.Assert.Fail($"The child '{_scenario}' {what}.{Environment.NewLine}{this}");

    private void OnStdout(object sender, DataReceivedEventArgs e)
    {
        if (e.Data is null)
        {
            _stdoutClosed.Set();
            return;
        }
        lock (_stdout)
        {
            _stdout.AppendLine(e.Data);
        }
        _lines.Add(e.Data);
    }

    private void OnStderr(object sender, DataReceivedEventArgs e)
    {
        if (e.Data is null)
        {
            _stderrClosed.Set();
            return;
        }
        lock (_stderr)
        {
            _stderr.AppendLine(e.Data);
        }
    }
}

using System.Diagnostics;
using System.Text.Json;
using IIC.Perf.Core;

namespace IIC.Perf.Harness;

/// <summary>
/// A child process of one measurement: this program started again with <c>__child {spec}</c>, perhaps under a
/// prefix such as <c>ip netns exec NS</c>. Its standard error is forwarded, prefixed with its label; its standard
/// output carries its report. Closing its standard input tells it to exit (and it exits by itself if this process
/// dies). Every wait here is bounded; a child that outlives its bound is killed.
/// </summary>
internal sealed class ChildProcess : IDisposable
{
    private const int TailLines = 12;
    private readonly Process _process;
    private readonly string _label;
    private TaskCompletionSource<ChildReport> _report = NewReport();
    private TaskCompletionSource _joined = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _exited = new();
    private readonly Queue<string> _errorTail = new();
    private readonly IDisposable _cleanup;

    private ChildProcess(Process process, string label)
    {
        _process = process;
        _label = label;
        _cleanup = CleanupRegistry.Register(this);
    }

    /// <summary>Cancelled when the process has exited.</summary>
    public CancellationToken Exited => _exited.Token;

    /// <summary>The last lines the child wrote to standard error, for error messages.</summary>
    public string ErrorTail
    {
        get
        {
            lock (_errorTail)
            {
                return string.Join(" | ", _errorTail);
            }
        }
    }

    /// <summary>A child for one row: the spec is its argument; it exits when its standard input closes.</summary>
    public static ChildProcess Start(string label, ChildLaunch launch, ChildSpec spec)
    {
        ArgumentNullException.ThrowIfNull(launch);
        return Start(label, launch.Prefix, JsonSerializer.Serialize(spec, PerfJson.Default.ChildSpec));
    }

    /// <summary>
    /// A child that runs many rows in turn (<see cref="ChildPool"/>): give it each row with <see cref="Assign"/>.
    /// Under a <paramref name="prefix"/> (<c>ip netns exec</c>, <c>unshare</c>) its input still reaches it: the prefix
    /// either execs the child or forks it with the same standard input.
    /// </summary>
    public static ChildProcess StartReusable(string label, IReadOnlyList<string> prefix) => Start(label, prefix, ChildMain.ReuseArgument);

    /// <summary>
    /// Hands a reusable child its next row (one line on its standard input). Call it only once the previous row's
    /// report is in: from here on <see cref="WaitReport"/> waits for this row's report.
    /// </summary>
    /// <exception cref="PeerGoneException">The child has exited or its input is closed.</exception>
    public void Assign(ChildSpec spec)
    {
        lock (_errorTail)
        {
            _errorTail.Clear();
        }
        var report = NewReport();
        Volatile.Write(ref _report, report);
        Volatile.Write(ref _joined, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        if (_process.HasExited)
        {
            throw new PeerGoneException($"The {_label} child exited (code {_process.ExitCode}) before it was given its next row.");
        }
        try
        {
            _process.StandardInput.WriteLine(JsonSerializer.Serialize(spec, PerfJson.Default.ChildSpec));
            _process.StandardInput.Flush();
        }
        catch (IOException e)
        {
            throw new PeerGoneException($"The {_label} child no longer reads its input: {e.Message}");
        }
    }

    /// <summary>True while the process runs.</summary>
    public bool IsRunning => ProcessLiveness.IsRunning(_process);

    private static TaskCompletionSource<ChildReport> NewReport() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private static ChildProcess Start(string label, IReadOnlyList<string> prefix, string childArgument)
    {
        var (executable, leading) = SelfCommand.Resolve();
        var command = prefix.Concat([executable]).Concat(leading).Concat([ChildMain.Verb, childArgument]).ToList();
        var start = new ProcessStartInfo(command[0])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in command.Skip(1))
        {
            start.ArgumentList.Add(argument);
        }
        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        var child = new ChildProcess(process, label);
        process.OutputDataReceived += (_, e) => child.OnOutput(e.Data);
        process.ErrorDataReceived += (_, e) => child.OnError(e.Data);
        process.Exited += (_, _) => child.OnExited();
        try
        {
            process.Start();
        }
        catch (Exception e)
        {
            child.Dispose();
            throw new InvalidOperationException($"Could not start the {label} child ({command[0]}): {e.Message}", e);
        }
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return child;
    }

    /// <summary>Waits for the child's report.</summary>
    /// <exception cref="TimeoutException">No report in time (the child is killed).</exception>
    /// <exception cref="PeerGoneException">The child exited without a report.</exception>
    public ChildReport WaitReport(TimeSpan timeout)
    {
        try
        {
            var report = Volatile.Read(ref _report);
            if (!report.Task.Wait(timeout))
            {
                Kill();
                throw new TimeoutException($"The {_label} child did not report within {timeout.TotalSeconds:0.#} s and was killed. {ErrorTail}");
            }
            return report.Task.Result;
        }
        catch (AggregateException e) when (e.InnerException is not null)
        {
            throw e.InnerException;
        }
    }

    /// <summary>
    /// Waits until a reused child has joined the row given by <see cref="Assign"/> (its <see cref="ChildReport.JoinedLine"/>):
    /// from then on it holds its own descriptors for the session, and the parent may close its copies.
    /// </summary>
    /// <exception cref="TimeoutException">It did not join in time (the child is killed).</exception>
    /// <exception cref="PeerGoneException">The child exited first.</exception>
    public void WaitJoined(TimeSpan timeout)
    {
        try
        {
            if (!Volatile.Read(ref _joined).Task.Wait(timeout))
            {
                Kill();
                throw new TimeoutException($"The {_label} child did not join its row within {timeout.TotalSeconds:0.#} s and was killed. {ErrorTail}");
            }
        }
        catch (AggregateException e) when (e.InnerException is not null)
        {
            throw e.InnerException;
        }
    }

    /// <summary>
    /// After a failure: if the child has exited (or does within <paramref name="wait"/>), its exit code and last
    /// error lines, once its output is drained; otherwise null.
    /// </summary>
    public string? ExitSummary(TimeSpan wait)
    {
        try
        {
            if (!_process.WaitForExit(wait))
            {
                return null;
            }
            DrainOutput();
            var tail = ErrorTail;
            return $"the {_label} child exited with code {_process.ExitCode}{(tail.Length > 0 ? ": " + tail : "")}";
        }
        catch (InvalidOperationException)
        {
            return null;
        }
    }

    /// <summary>Tells the child to exit (closes its standard input) and waits a little; kills it if it lingers.</summary>
    public void Finish()
    {
        try
        {
            _process.StandardInput.Close();
        }
        catch (IOException)
        {
            // already gone
        }
        if (!_process.WaitForExit(TimeSpan.FromSeconds(10)))
        {
            Console.Error.WriteLine($"[{_label}] did not exit within 10 s of the end of its run; killing it.");
            Kill();
        }
    }

    public void Kill()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
            }
        }
        catch (InvalidOperationException)
        {
            // not started, or exited meanwhile
        }
    }

    public void Dispose()
    {
        Kill();
        _cleanup.Dispose();
        _process.Dispose();
        _exited.Dispose();
    }

    /// <summary>Waits (briefly) until the exited child's redirected output has been read to its end.</summary>
    private void DrainOutput()
    {
        try
        {
            _process.WaitForExitAsync().Wait(TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
            // nothing more to read
        }
    }

    private void OnOutput(string? line)
    {
        if (line is null)
        {
            return;
        }
        if (line == ChildReport.JoinedLine)
        {
            Volatile.Read(ref _joined).TrySetResult();
            return;
        }
        if (line.StartsWith(ChildReport.LinePrefix, StringComparison.Ordinal))
        {
            try
            {
                var report = JsonSerializer.Deserialize(line.AsSpan(ChildReport.LinePrefix.Length), PerfJson.Default.ChildReport);
                Volatile.Read(ref _report).TrySetResult(report ?? throw new JsonException("null report"));
            }
            catch (JsonException e)
            {
                Volatile.Read(ref _report).TrySetException(new InvalidDataException($"The {_label} child sent an unreadable report: {e.Message}"));
            }
            return;
        }
        Console.Error.WriteLine($"[{_label}] {line}");
    }

    private void OnError(string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (_errorTail)
        {
            _errorTail.Enqueue(line);
            while (_errorTail.Count > TailLines)
            {
                _errorTail.Dequeue();
            }
        }
        Console.Error.WriteLine($"[{_label}] {line}");
    }

    private void OnExited()
    {
        // Drain the output first, so a report written just before exit still counts.
        DrainOutput();
        var code = _process.ExitCode;
        Volatile.Read(ref _report).TrySetException(new PeerGoneException($"The {_label} child exited (code {code}) before reporting. {ErrorTail}".TrimEnd()));
        Volatile.Read(ref _joined).TrySetException(new PeerGoneException($"The {_label} child exited (code {code}) before joining its row. {ErrorTail}".TrimEnd()));
        try
        {
            _exited.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // disposed meanwhile: nobody is waiting
        }
    }
}

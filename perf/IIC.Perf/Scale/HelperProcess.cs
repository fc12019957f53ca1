using System.Diagnostics;
using IIC.Perf.Harness;

namespace IIC.Perf.Scale;

/// <summary>
/// A child of the scaling tests: this program again with a verb of its own (<c>__fanin</c>, <c>__connect</c>). It
/// writes lines starting with '@' on standard output for the parent (ready, its port, its result), its errors go
/// to our standard error, and closing its standard input tells it to exit (it exits too if we die).
/// </summary>
internal sealed class HelperProcess : IDisposable
{
    private readonly Process _process;
    private readonly BlockingLines _lines = new();
    private readonly IDisposable _cleanup;

    private HelperProcess(Process process)
    {
        _process = process;
        _cleanup = CleanupRegistry.Register(this);
    }

    public static HelperProcess Start(params string[] arguments)
    {
        var (executable, leading) = SelfCommand.Resolve();
        var start = new ProcessStartInfo(executable) { RedirectStandardInput = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var argument in leading.Concat(arguments))
        {
            start.ArgumentList.Add(argument);
        }
        var process = new Process { StartInfo = start };
        var helper = new HelperProcess(process);
        process.OutputDataReceived += (_, e) => helper._lines.Add(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        return helper;
    }

    /// <summary>The next line that starts with <paramref name="prefix"/>, without it.</summary>
    /// <exception cref="TimeoutException">None in time, or the child ended first.</exception>
    public string WaitLine(string prefix, TimeSpan timeout)
    {
        var until = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        while (true)
        {
            var left = until - Stopwatch.GetTimestamp();
            var line = _lines.Take(left <= 0 ? TimeSpan.Zero : Stopwatch.GetElapsedTime(0, left));
            if (line is null)
            {
                throw new TimeoutException($"A helper child ({string.Join(' ', _process.StartInfo.ArgumentList.Skip(1).Take(2))}) said no '{prefix}' line within {timeout.TotalSeconds:0} s{(_process.HasExited ? $" and exited with code {_process.ExitCode}" : "")}.");
            }
            if (line.StartsWith(prefix, StringComparison.Ordinal))
            {
                return line[prefix.Length..].Trim();
            }
            Console.Error.WriteLine($"[helper] {line}");
        }
    }

    /// <summary>True while the process runs.</summary>
    public bool IsRunning => ProcessLiveness.IsRunning(_process);

    /// <summary>Writes one line to its standard input (a reused helper's next task).</summary>
    /// <exception cref="IOException">It no longer reads its input.</exception>
    public void WriteLine(string line)
    {
        _process.StandardInput.WriteLine(line);
        _process.StandardInput.Flush();
    }

    /// <summary>Closes its standard input (it exits) and waits a little; kills it if it lingers.</summary>
    public void Dispose()
    {
        _cleanup.Dispose();
        try
        {
            _process.StandardInput.Close();
            if (!_process.WaitForExit(TimeSpan.FromSeconds(10)))
            {
                _process.Kill(entireProcessTree: true);
            }
        }
        catch (Exception e) when (e is IOException or InvalidOperationException)
        {
            // already gone
        }
        _process.Dispose();
    }

    /// <summary>The child side: returns once standard input ends (the parent closed it, or died).</summary>
    public static Thread WatchParent(Action onEnd)
    {
        var thread = new Thread(() =>
        {
            using var input = Console.OpenStandardInput();
            var buffer = new byte[64];
            try
            {
                while (input.Read(buffer) > 0)
                {
                }
            }
            catch (IOException)
            {
                // the end, too
            }
            onEnd();
        })
        { IsBackground = true, Name = "parent watchdog" };
        thread.Start();
        return thread;
    }

    private sealed class BlockingLines
    {
        private readonly Queue<string?> _queue = new();
        private readonly object _lock = new(); // Monitor.Wait/Pulse need a monitor, not a System.Threading.Lock
        private bool _ended;

        public void Add(string? line)
        {
            lock (_lock)
            {
                if (line is null)
                {
                    _ended = true;
                }
                else
                {
                    _queue.Enqueue(line);
                }
                Monitor.PulseAll(_lock);
            }
        }

        public string? Take(TimeSpan timeout)
        {
            var until = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
            lock (_lock)
            {
                while (_queue.Count == 0)
                {
                    var left = until - Stopwatch.GetTimestamp();
                    if (_ended || left <= 0)
                    {
                        return null;
                    }
                    Monitor.Wait(_lock, Stopwatch.GetElapsedTime(0, left));
                }
                return _queue.Dequeue();
            }
        }
    }
}

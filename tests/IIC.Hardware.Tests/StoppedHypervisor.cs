using System.Globalization;
using IIC.Tests;
using IIC.TestHost;

namespace IIC.Hardware.Tests;

/// <summary>
/// A real hypervisor in a child process that a test stops (SIGSTOP) and continues (SIGCONT), and a watchdog for calls
/// that must not wait for it (<see cref="StuckHypervisorSendTests"/>, <see cref="NoReaderEpollTests"/>).
/// </summary>
internal static class StoppedHypervisor
{
    /// <summary>How long a call may take before the test counts it as held by the stopped hypervisor.</summary>
    public static readonly TimeSpan Watchdog = TimeSpan.FromSeconds(30);

    /// <summary>Starts a hypervisor named after <paramref name="scope"/> in a child process and waits until it serves.</summary>
    public static ChildProcess StartHost(HypervisorScope scope)
    {
        var host = ChildProcess.Start("hv-host", scope.Name, scope.Directory);
        Assert.StartsWith("ready ", host.ReadLine(Watchdog));
        return host;
    }

    /// <summary>
    /// Runs <paramref name="call"/> on a thread of its own and waits for it at most 30 s: a call that blocks (in sendmsg
    /// before round 20, behind the reader's recvmsg before round 21) fails the test instead of hanging it. The thread
    /// stays blocked until the hypervisor continues.
    /// </summary>
    public static Task<T> OffThread<T>(Func<T> call)
        => Task.Factory.StartNew(call, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).WaitAsync(Watchdog);

    /// <summary>Sends SIG<paramref name="signal"/> to <paramref name="pid"/>; after STOP, returns once every thread of it is stopped.</summary>
    public static void Signal(int pid, string signal)
    {
        var (code, text) = Programs.Run("kill", ["-" + signal, pid.ToString(CultureInfo.InvariantCulture)]);
        Assert.True(code == 0, $"kill -{signal} {pid} failed: {text}");
        if (signal == "STOP")
        {
            // kill returns once the signal is sent; a thread inside a recvmsg finishes it before it stops, and the room
            // that read makes would let a message the test expects to wait go out. Wait until every thread is stopped.
            WaitFor.Condition(() => AllThreadsStopped(pid), $"every thread of process {pid} is stopped", Watchdog);
        }
    }

    /// <summary>Whether every thread of <paramref name="pid"/> is in state T (stopped) in /proc/PID/task/TID/stat.</summary>
    private static bool AllThreadsStopped(int pid)
    {
        foreach (var task in Directory.GetDirectories($"/proc/{pid}/task"))
        {
            try
            {
                var stat = File.ReadAllText(Path.Combine(task, "stat"));
                var state = stat[(stat.LastIndexOf(')') + 2)..][0]; // the field after "(comm)"
                if (state is not ('T' or 't'))
                {
                    return false;
                }
            }
            catch (IOException)
            {
                // The thread exited meanwhile.
            }
        }
        return true;
    }
}

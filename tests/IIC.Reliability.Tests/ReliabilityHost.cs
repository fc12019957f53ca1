using System.Diagnostics;
using System.Globalization;
using IIC.Hardware;
using IIC.Tests;

namespace IIC.Reliability.Tests;

/// <summary>
/// The reliability tests run one at a time (they are timing- and CPU-heavy on a 2-core box, and the leak checks
/// count this process's descriptors and mappings, which a parallel test would disturb).
/// </summary>
[CollectionDefinition(nameof(SerialReliabilityTests), DisableParallelization = true)]
public sealed class SerialReliabilityTests;

/// <summary>Knobs for the long variants (docs/guarantees.md): each environment variable raises a default.</summary>
internal static class Knobs
{
    public static int Get(string variable, int fallback)
        => int.TryParse(Environment.GetEnvironmentVariable(variable), NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) && value > 0 ? value : fallback;
}

/// <summary>
/// An embedded hypervisor (or one in a child process) with a unique name in a unique 0700 socket directory, this
/// test process attached to it as partition "victim", and a helper that starts a child scenario connecting to a
/// fresh service this process listens on.
/// </summary>
internal sealed class ReliabilityHost : IDisposable
{
    private static int s_services;
    private readonly ChildProcess? _hypervisorChild;

    private ReliabilityHost(string name, string directory, Hypervisor? hypervisor, ChildProcess? hypervisorChild, Partition partition)
    {
        Name = name;
        SocketDirectory = directory;
        Hypervisor = hypervisor;
        _hypervisorChild = hypervisorChild;
        Partition = partition;
    }

    public static TimeSpan Timeout { get; } = TimeSpan.FromSeconds(30);

    public string Name { get; }

    public string SocketDirectory { get; }

    public Hypervisor? Hypervisor { get; }

    public ChildProcess? HypervisorChild => _hypervisorChild;

    public Partition Partition { get; }

    /// <summary>Starts the hypervisor here (embedded) or, with <paramref name="inChild"/>, in a child process ("hv-host").</summary>
    public static ReliabilityHost Start(bool inChild = false)
    {
        var name = "r-" + Guid.NewGuid().ToString("N")[..12];
        var directory = Directory.CreateTempSubdirectory("iic-rel-").FullName; // 0700
        Hypervisor? hypervisor = null;
        ChildProcess? child = null;
        try
        {
            if (inChild)
            {
                child = ChildProcess.Start("hv-host", name, directory);
                Assert.StartsWith("ready", child.ReadLine(Timeout), StringComparison.Ordinal);
            }
            else
            {
                hypervisor = Hypervisor.Start(name, new HypervisorOptions { SocketDirectory = directory });
            }
            return new ReliabilityHost(name, directory, hypervisor, child, Partition.Attach(name, "victim", directory));
        }
        catch
        {
            hypervisor?.Dispose();
            child?.Dispose();
            throw;
        }
    }

    /// <summary>A fresh service name.</summary>
    public static string NewService() => "svc-" + Interlocked.Increment(ref s_services).ToString(CultureInfo.InvariantCulture);

    /// <summary>
    /// Listens on a fresh service, starts <paramref name="scenario"/> in a child that connects
    /// <paramref name="channels"/> channels to it, and returns the child and this side's channels once it printed
    /// a line starting with "connected".
    /// </summary>
    public (ChildProcess Child, List<IicChannel> Channels) StartChild(string scenario, int ringCapacity, int channels, ChannelOptions? options, params string[] more)
    {
        var service = NewService();
        using var listener = IicListener.Listen(Partition, service, options);
        var child = ChildProcess.Start(scenario, [Name, SocketDirectory, service, ringCapacity.ToString(CultureInfo.InvariantCulture), .. more]);
        var accepted = new List<IicChannel>();
        try
        {
            for (var i = 0; i < channels; i++)
            {
                accepted.Add(Accept(listener, child));
            }
            Assert.StartsWith("connected", child.ReadLine(Timeout), StringComparison.Ordinal);
            return (child, accepted);
        }
        catch
        {
            child.Dispose();
            foreach (var channel in accepted)
            {
                channel.Dispose();
            }
            throw;
        }
    }

    /// <summary>Accepts one channel, failing at once (with its output) if the child exits first.</summary>
    public static IicChannel Accept(IicListener listener, ChildProcess child)
    {
        var start = Stopwatch.GetTimestamp();
        while (true)
        {
            try
            {
                return listener.Accept(TimeSpan.FromMilliseconds(200));
            }
            catch (TimeoutException)
            {
                if (child.Process.HasExited)
                {
                    Assert.Fail($"The child exited before connecting.{Environment.NewLine}{child}");
                }
                if (Stopwatch.GetElapsedTime(start) > Timeout)
                {
                    Assert.Fail($"No connection from the child within {Timeout.TotalSeconds} s.{Environment.NewLine}{child}");
                }
            }
        }
    }

    public void Dispose()
    {
        Partition.Dispose();
        Hypervisor?.Dispose();
        _hypervisorChild?.Dispose();
        try
        {
            Directory.Delete(SocketDirectory, recursive: true);
        }
        catch (IOException)
        {
            // best effort
        }
    }
}

/// <summary>What this process holds of the kernel: descriptors and IICFast memfd mappings (from /proc/self).</summary>
internal static class ProcSelf
{
    /// <summary>Open descriptors.</summary>
    public static int Descriptors() => Directory.GetFiles("/proc/self/fd").Length;

    /// <summary>Open descriptors that are IICFast memfds (windows and interrupt groups).</summary>
    public static int IicMemfdDescriptors()
    {
        var count = 0;
        foreach (var fd in Directory.GetFiles("/proc/self/fd"))
        {
            try
            {
                if (File.ResolveLinkTarget(fd, returnFinalTarget: false)?.FullName.Contains("memfd:iic", StringComparison.Ordinal) == true)
                {
                    count++;
                }
            }
            catch (IOException)
            {
                // closed while we looked (the directory listing itself, or another thread's descriptor)
            }
        }
        return count;
    }

    /// <summary>Lines of /proc/self/maps that map an IICFast memfd.</summary>
    public static int IicMappings() => File.ReadAllLines("/proc/self/maps").Count(l => l.Contains("memfd:iic", StringComparison.Ordinal));

    /// <summary>CPU time (user + system) the calling thread has used.</summary>
    public static TimeSpan ThreadCpuTime()
    {
        var stat = File.ReadAllText($"/proc/thread-self/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        // fields[0] is field 3 (state); utime and stime are fields 14 and 15.
        var ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
        return TimeSpan.FromSeconds(ticks / 100.0); // USER_HZ is 100 on Linux
    }

    /// <summary>A process's resident set (VmRSS) in bytes.</summary>
    public static long ResidentBytes(int pid)
    {
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
            }
        }
        throw new InvalidOperationException($"No VmRSS for pid {pid}.");
    }

    /// <summary>Sends a signal with the kill command (as an operator would).</summary>
    public static void Signal(int pid, string signal)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill", ["-" + signal, pid.ToString(CultureInfo.InvariantCulture)]) { UseShellExecute = false })!;
        Assert.True(kill.WaitForExit(TimeSpan.FromSeconds(10)), "kill did not finish");
        Assert.Equal(0, kill.ExitCode);
    }

    /// <summary>The scheduler state letter of a process (R, S, T for stopped, ...).</summary>
    public static char State(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        return stat[stat.LastIndexOf(')') + 2];
    }
}

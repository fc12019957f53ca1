using System.Globalization;
using IIC.Hardware;
using IIC.Native;
using IIC.Transport;

namespace IIC.TestHost;

/// <summary>Children for the control-plane reliability tests (issue 12, tests/IIC.Reliability.Tests/ControlPlaneTests.cs).</summary>
internal static class ControlPlaneScenarios
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(30);

    /// <summary>
    /// args: name socketDir [nondumpable]. Starts a hypervisor (non-dumpable if asked), prints "ready PID FD" (FD:
    /// a window this process holds, as the hypervisor holds granted ones), runs until stdin closes or says "stop".
    /// </summary>
    [Scenario("cp-hv-host")]
    private static int Host(string[] args)
    {
        using var hypervisor = Hypervisor.Start(args[0], new HypervisorOptions { SocketDirectory = args[1], NonDumpable = args.Contains("nondumpable") });
        using var window = SharedWindow.Create(WindowOptions.WithCapacity(DescriptorRing.MinCapacity), "iic-held-window");
        Console.WriteLine($"ready {Environment.ProcessId} {window.File.Value}");
        string? line;
        while ((line = Console.ReadLine()) is not null && line != "stop")
        {
        }
        return 0;
    }

    /// <summary>
    /// args: name socketDir default|dumpable. Prints "before D", starts an embedded hypervisor (default options, or
    /// NonDumpable = false), prints "running D", waits for "stop", disposes it and prints "after D"; D is
    /// prctl(PR_GET_DUMPABLE) as 1 or 0.
    /// </summary>
    [Scenario("cp-dumpable")]
    private static int Dumpable(string[] args)
    {
        static int Now() => ProcessLimits.IsDumpable ? 1 : 0;
        Console.WriteLine($"before {Now()}");
        var options = args[2] == "dumpable" ? new HypervisorOptions { SocketDirectory = args[1], NonDumpable = false } : new HypervisorOptions { SocketDirectory = args[1] };
        var hypervisor = Hypervisor.Start(args[0], options);
        Console.WriteLine($"running {Now()}");
        while (Console.ReadLine() is { } line && line != "stop")
        {
        }
        hypervisor.Dispose();
        Console.WriteLine($"after {Now()}");
        Console.In.ReadToEnd();
        return 0;
    }

    /// <summary>
    /// args: hypervisor socketDir partition service grouped(0|1). Offers the service, accepts one channel, prints
    /// "accepted", then waits for stdin to close (the test kills it).
    /// </summary>
    [Scenario("cp-peer")]
    private static int Peer(string[] args)
    {
        using var partition = Partition.Attach(args[0], args[2], args[1]);
        using var listener = IicListener.Listen(partition, args[3], new ChannelOptions { Grouped = args[4] == "1" });
        Console.WriteLine("listening");
        using var channel = listener.Accept(s_timeout);
        Console.WriteLine("accepted");
        while (Console.ReadLine() is not null)
        {
        }
        return 0;
    }

    /// <summary>
    /// args: hypervisor socketDir partition service. Offers the service and never accepts; prints "listening" and
    /// waits for stdin to close (the test stops it with SIGSTOP meanwhile).
    /// </summary>
    [Scenario("cp-idle-listener")]
    private static int IdleListener(string[] args)
    {
        using var partition = Partition.Attach(args[0], args[2], args[1]);
        using var listener = partition.Listen(args[3]);
        Console.WriteLine("listening");
        while (Console.ReadLine() is not null)
        {
        }
        return 0;
    }

    /// <summary>
    /// args: hypervisor socketDir partition. Attaches as if out of descriptors at attach (no reader epoll: nothing but
    /// the socket's shutdown can end the reader's poll), prints "attached", waits for "go" (the test lowers this
    /// process's descriptor limit meanwhile), opens /dev/null until the limit refuses one, then disposes the partition
    /// and prints "held N net LOADED reader RUNNING connected CONNECTED": N descriptors it took, whether
    /// System.Net.Primitives is loaded (the old shutdown's assembly: the test means something only if it is not), and
    /// the reader's and the partition's state when Dispose returned. Waits for stdin to close.
    /// </summary>
    [Scenario("cp-close-out-of-fds")]
    private static int CloseOutOfDescriptors(string[] args)
    {
        Partition partition;
        Partition.t_attachWithoutReadingKicks = true;
        try
        {
            partition = Partition.Attach(args[0], args[2], args[1]);
        }
        finally
        {
            Partition.t_attachWithoutReadingKicks = false;
        }
        Console.WriteLine("attached");
        if (Console.ReadLine() != "go")
        {
            return 1;
        }
        var held = new List<Microsoft.Win32.SafeHandles.SafeFileHandle>();
        try
        {
            while (held.Count < 100_000)
            {
                held.Add(File.OpenHandle("/dev/null"));
            }
        }
        catch (IOException)
        {
            // EMFILE: out of descriptors, as the test wants.
        }
        var netLoaded = false; // a plain loop: out of descriptors, System.Linq may not be loadable either
        foreach (var assembly in AppDomain.CurrentDomain.GetAssemblies())
        {
            netLoaded |= assembly.GetName().Name == "System.Net.Primitives";
        }
        partition.Dispose();
        var line = string.Create(CultureInfo.InvariantCulture, $"held {held.Count} net {netLoaded} reader {partition.ReaderRunning} connected {partition.IsHypervisorConnected}");
        foreach (var handle in held)
        {
            handle.Dispose();
        }
        Console.WriteLine(line);
        while (Console.ReadLine() is not null)
        {
        }
        return 0;
    }

    /// <summary>
    /// args: hypervisor socketDir partition service. Attaches, offers the service, prints "attached", waits for "go"
    /// (the test lowers this process's descriptor limit meanwhile), then connects to the service until a connect
    /// fails, holding every connection; prints "failed N TYPE ERROR MESSAGE", then whether Dispose threw.
    /// </summary>
    [Scenario("cp-fd-exhaust")]
    private static int ExhaustDescriptors(string[] args)
    {
        var partition = Partition.Attach(args[0], args[2], args[1]);
        var listener = partition.Listen(args[3]);
        var held = new List<GrantedConnection>();
        Console.WriteLine("attached");
        if (Console.ReadLine() != "go")
        {
            return 1;
        }
        try
        {
            while (held.Count < 100_000)
            {
                held.Add(partition.Connect(args[3], DescriptorRing.MinCapacity, TimeSpan.FromSeconds(5)));
            }
            Console.WriteLine("failed never");
        }
        catch (Exception e)
        {
            var error = e is HypervisorException h ? h.Error?.ToString() ?? "none" : "none";
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"failed {held.Count} {e.GetType().Name} {error} {e.Message.ReplaceLineEndings(" ")}"));
        }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"connected {partition.IsHypervisorConnected} limit {ProcessLimits.OpenFilesLimit}"));
        try
        {
            foreach (var connection in held)
            {
                connection.Dispose();
            }
            listener.Dispose();
            partition.Dispose();
            Console.WriteLine("disposed");
        }
        catch (Exception e)
        {
            Console.WriteLine($"dispose threw {e.GetType().Name}: {e.Message.ReplaceLineEndings(" ")}");
        }
        while (Console.ReadLine() is not null)
        {
        }
        return 0;
    }
}

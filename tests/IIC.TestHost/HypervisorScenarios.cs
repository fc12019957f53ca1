using System.Buffers.Binary;
using System.Globalization;
using IIC.Hardware;
using IIC.Transport;

namespace IIC.TestHost;

/// <summary>
/// Child scenarios for the hypervisor tests. Arguments are positional; a socket directory of "-" means the default.
/// Every wait is bounded so a broken parent cannot hang a child.
/// </summary>
internal static class HypervisorScenarios
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(10);

    private static string? Directory(string arg) => arg == "-" ? null : arg;

    /// <summary>
    /// args: name socketDir. Starts a hypervisor, prints "ready PID", and runs until stdin closes or says "stop".
    /// </summary>
    [Scenario("hv-host")]
    private static int Host(string[] args)
    {
        using var hypervisor = Hypervisor.Start(args[0], new HypervisorOptions { SocketDirectory = Directory(args[1]) });
        Console.WriteLine($"ready {Environment.ProcessId}");
        string? line;
        while ((line = Console.ReadLine()) is not null && line != "stop")
        {
        }
        Console.WriteLine("stopped");
        return 0;
    }

    /// <summary>
    /// args: hypervisor socketDir partition service. Offers the service, prints "listening", accepts one
    /// channel and echoes every message (after checking it is the next one) until the peer closes; prints
    /// "echoed N" and exits 0. Exits 0 too when the hypervisor is gone (the channel keeps working).
    /// </summary>
    [Scenario("hv-echo-server")]
    private static int EchoServer(string[] args)
    {
        using var partition = Partition.Attach(args[0], args[2], Directory(args[1]));
        using var listener = IicListener.Listen(partition, args[3]);
        Console.WriteLine("listening");
        using var channel = listener.Accept(s_timeout);
        Console.WriteLine("accepted");
        var buffer = new byte[64 * 1024];
        long sequence = 0;
        try
        {
            while (true)
            {
                if (!channel.TryReceive(buffer, out var length, TimeSpan.FromSeconds(15)))
                {
                    Console.Error.WriteLine($"nothing arrived for 15 s after message {sequence}");
                    return 2;
                }
                if (HypervisorPattern.Check(buffer.AsSpan(0, length), sequence) is { } problem)
                {
                    Console.Error.WriteLine(problem);
                    return 3;
                }
                channel.Send(buffer.AsSpan(0, length));
                sequence++;
            }
        }
        catch (IicChannelClosedException)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"echoed {sequence}"));
            return 0;
        }
    }

    /// <summary>
    /// args: hypervisor socketDir partition service count. Connects (waiting up to 10 s for the service), sends
    /// count messages and checks each echo, prints "ok N", closes the channel and detaches.
    /// </summary>
    [Scenario("hv-echo-client")]
    private static int EchoClient(string[] args)
    {
        var count = long.Parse(args[4], CultureInfo.InvariantCulture);
        using var partition = Partition.Attach(args[0], args[2], Directory(args[1]));
        using var channel = IicChannel.Connect(partition, args[3], new ChannelOptions { RingCapacity = 64 * 1024 }, s_timeout);
        var send = new byte[4096];
        var receive = new byte[4096];
        for (long i = 0; i < count; i++)
        {
            var length = HypervisorPattern.Fill(send, i);
            channel.Send(send.AsSpan(0, length));
            if (!channel.TryReceive(receive, out var echoed, s_timeout))
            {
                Console.Error.WriteLine($"no echo of message {i} within {s_timeout.TotalSeconds} s");
                return 2;
            }
            if (HypervisorPattern.Check(receive.AsSpan(0, echoed), i) is { } problem)
            {
                Console.Error.WriteLine(problem);
                return 3;
            }
        }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"ok {count}"));
        return 0;
    }

    /// <summary>
    /// args: hypervisor socketDir partition service. Connects and sends numbered messages as fast as the ring
    /// allows, forever (the test kills it with SIGKILL). Prints "connected" first.
    /// </summary>
    [Scenario("hv-sender")]
    private static int Sender(string[] args)
    {
        using var partition = Partition.Attach(args[0], args[2], Directory(args[1]));
        using var channel = IicChannel.Connect(partition, args[3], new ChannelOptions { RingCapacity = 64 * 1024 }, s_timeout);
        Console.WriteLine("connected");
        var buffer = new byte[4096];
        for (long i = 0; ; i++)
        {
            var length = HypervisorPattern.Fill(buffer, i);
            channel.Send(buffer.AsSpan(0, length));
        }
    }

    /// <summary>
    /// args: hypervisor socketDir partition. Tries to attach and prints one line: "attached" or
    /// "refused ERROR MESSAGE" (ERROR is the ControlError, or "none" when the hypervisor could not be reached).
    /// </summary>
    [Scenario("hv-try-attach")]
    private static int TryAttach(string[] args)
    {
        try
        {
            using var partition = Partition.Attach(args[0], args[2], Directory(args[1]));
            Console.WriteLine("attached");
        }
        catch (HypervisorException e)
        {
            Console.WriteLine($"refused {(e.Error?.ToString() ?? "none")} {e.Message.ReplaceLineEndings(" ")}");
        }
        return 0;
    }

    /// <summary>args: path. Tries to open the file for reading; prints "opened" or "denied MESSAGE".</summary>
    [Scenario("hv-try-open")]
    private static int TryOpen(string[] args)
    {
        try
        {
            using var handle = File.OpenHandle(args[0], FileMode.Open, FileAccess.Read);
            Console.WriteLine("opened");
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException)
        {
            Console.WriteLine($"denied {e.GetType().Name}: {e.Message.ReplaceLineEndings(" ")}");
        }
        return 0;
    }
}

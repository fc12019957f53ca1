using System.Globalization;
using IIC.Hardware;
using IIC.TestHost;
using IIC.Transport;

namespace IIC.Isolation.Host;

/// <summary>
/// Echo pairs over a granted channel, in four receive styles (mode): <c>sync</c> (TryReceive with a timeout and the
/// Park strategy: the receiver sleeps on the futex in the window, so every wake is the peer's doorbell crossing), <c>async</c> (ReceiveAsync),
/// <c>group</c> (grouped channels and IicChannelGroup.WaitAny) and <c>stream</c> (AsStream, bytes not messages).
/// </summary>
internal static class EchoScenarios
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(15);

    /// <summary>args: hypervisor dir partition service mode. Prints "listening", "accepted", then "echoed N" when the peer closes.</summary>
    public static int Server(string[] args)
    {
        var mode = args[4];
        using var partition = Partition.Attach(args[0], args[2], args[1]);
        using var listener = IicListener.Listen(partition, args[3], new ChannelOptions { Grouped = mode == "group", WaitStrategy = StrategyFor(mode) });
        Console.WriteLine("listening");
        using var channel = listener.Accept(s_timeout);
        Console.WriteLine("accepted");
        if (mode == "stream")
        {
            return StreamEcho(channel);
        }
        var group = mode == "group" ? new IicChannelGroup(partition) : null;
        group?.Add(channel);
        var buffer = new byte[64 * 1024];
        long sequence = 0;
        try
        {
            while (true)
            {
                var length = Receive(channel, group, mode, buffer);
                if (length < 0)
                {
                    Console.Error.WriteLine($"nothing arrived for {s_timeout.TotalSeconds} s after message {sequence}");
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

    /// <summary>args: hypervisor dir partition service count mode. Sends count messages (or KiB in stream mode), checks every echo, prints "ok N".</summary>
    public static int Client(string[] args)
    {
        var count = long.Parse(args[4], CultureInfo.InvariantCulture);
        var mode = args[5];
        using var partition = Partition.Attach(args[0], args[2], args[1]);
        using var channel = IicChannel.Connect(partition, args[3], new ChannelOptions { RingCapacity = 64 * 1024, Grouped = mode == "group", WaitStrategy = StrategyFor(mode) }, s_timeout);
        if (mode == "stream")
        {
            return StreamClient(channel, count * 1024);
        }
        var group = mode == "group" ? new IicChannelGroup(partition) : null;
        group?.Add(channel);
        var send = new byte[4096];
        var receive = new byte[4096];
        for (long i = 0; i < count; i++)
        {
            channel.Send(send.AsSpan(0, HypervisorPattern.Fill(send, i)));
            var length = Receive(channel, group, mode, receive);
            if (length < 0)
            {
                Console.Error.WriteLine($"no echo of message {i} within {s_timeout.TotalSeconds} s");
                return 2;
            }
            if (HypervisorPattern.Check(receive.AsSpan(0, length), i) is { } problem)
            {
                Console.Error.WriteLine(problem);
                return 3;
            }
        }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"ok {count}"));
        if (mode == "sync")
        {
            // Parks that ended by a wake rather than the park timeout: the server's doorbell reached us.
            var wait = channel.GetStatistics().Wait;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"woken {wait.Parks - wait.ParkTimeouts}"));
        }
        return 0;
    }

    private static WaitStrategy StrategyFor(string mode) => mode == "sync" ? WaitStrategy.Park : WaitStrategy.Adaptive;

    /// <summary>args: hypervisor dir partition service. Prints "connected", then sends numbered messages until killed.</summary>
    public static int Sender(string[] args)
    {
        using var partition = Partition.Attach(args[0], args[2], args[1]);
        using var channel = IicChannel.Connect(partition, args[3], new ChannelOptions { RingCapacity = 64 * 1024 }, s_timeout);
        Console.WriteLine("connected");
        var buffer = new byte[4096];
        for (long i = 0; ; i++)
        {
            channel.Send(buffer.AsSpan(0, HypervisorPattern.Fill(buffer, i)));
        }
    }

    /// <summary>The next message's length, or -1 when none arrived within the timeout.</summary>
    private static int Receive(IicChannel channel, IicChannelGroup? group, string mode, byte[] buffer)
    {
        switch (mode)
        {
            case "sync":
                return channel.TryReceive(buffer, out var length, s_timeout) ? length : -1;
            case "async":
                using (var cancel = new CancellationTokenSource(s_timeout))
                {
                    try
                    {
                        return channel.ReceiveAsync(buffer, cancel.Token).AsTask().GetAwaiter().GetResult();
                    }
                    catch (OperationCanceledException)
                    {
                        return -1;
                    }
                }
            case "group":
                var deadline = DateTime.UtcNow + s_timeout;
                while (DateTime.UtcNow < deadline)
                {
                    if (group!.WaitAny(s_timeout) == channel && channel.TryReceive(buffer, out var grouped))
                    {
                        return grouped;
                    }
                }
                return -1;
            default:
                throw new ArgumentException($"unknown mode '{mode}'; use sync, async, group or stream", nameof(mode));
        }
    }

    private static int StreamEcho(IicChannel channel)
    {
        var stream = channel.AsStream();
        var buffer = new byte[7000];
        long total = 0;
        int read;
        while ((read = stream.Read(buffer)) > 0)
        {
            stream.Write(buffer, 0, read);
            stream.Flush();
            total += read;
        }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"echoed {total}"));
        return 0;
    }

    private static int StreamClient(IicChannel channel, long bytes)
    {
        var stream = channel.AsStream();
        var chunk = new byte[10_007]; // odd size: chunks straddle ring records
        var echo = new byte[chunk.Length];
        for (long offset = 0; offset < bytes;)
        {
            var n = (int)Math.Min(chunk.Length, bytes - offset);
            for (var i = 0; i < n; i++)
            {
                chunk[i] = Pattern.StreamByte(offset + i);
            }
            stream.Write(chunk, 0, n);
            stream.Flush();
            stream.ReadExactly(echo, 0, n);
            if (!echo.AsSpan(0, n).SequenceEqual(chunk.AsSpan(0, n)))
            {
                Console.Error.WriteLine($"stream bytes {offset}..{offset + n} came back different");
                return 3;
            }
            offset += n;
        }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"ok {bytes}"));
        return 0;
    }
}

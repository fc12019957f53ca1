using System.Buffers.Binary;
using System.Globalization;
using System.IO.Pipelines;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using IIC.Hardware;
using IIC.Transport;
using StreamJsonRpc;

namespace IIC.TestHost;

/// <summary>
/// The child partition of the IIC.Transport tests. Every scenario takes
/// <c>hypervisor-name socket-directory service ring-capacity [more...]</c>: it attaches to the test's embedded
/// hypervisor, connects to the service the test listens on, prints "connected", does its part and prints
/// "closed" when the parent's end went away.
/// </summary>
internal static class TransportScenarios
{
    /// <summary>The largest message the echo children take (the tests send up to 64 MiB).</summary>
    public const int MaxEcho = (64 << 20) + 4096;

    /// <summary>
    /// Echoes every message back, with the API named by args[4]: receive-send, poll (struct handler writing the
    /// echo in place with TryClaim/Commit, alternating with the static-lambda Poll), async (ReceiveAsync),
    /// stream-copy (Stream.CopyTo onto itself), stream-async (ReadAsync/WriteAsync), pipe (IDuplexPipe).
    /// </summary>
    [Scenario("transport-echo")]
    private static int Echo(string[] args)
    {
        using var partition = Attach(args);
        using var channel = Connect(partition, args);
        Console.WriteLine("connected");
        try
        {
            switch (args[4])
            {
                case "receive-send":
                    ReceiveSendEcho(channel);
                    break;
                case "send-and-receive":
                    SendAndReceiveEcho(channel);
                    break;
                case "poll":
                    PollEchoAsync(channel).GetAwaiter().GetResult();
                    break;
                case "async":
                    AsyncEcho(channel).GetAwaiter().GetResult();
                    break;
                case "stream-copy":
                    channel.AsStream().CopyTo(channel.AsStream(), 100_000);
                    Console.WriteLine("closed"); // Read returned 0
                    return 0;
                case "stream-async":
                    StreamAsyncEcho(channel.AsStream()).GetAwaiter().GetResult();
                    Console.WriteLine("closed");
                    return 0;
                case "pipe":
                    PipeEcho(channel.AsDuplexPipe()).GetAwaiter().GetResult();
                    Console.WriteLine("closed");
                    return 0;
                default:
                    Console.Error.WriteLine($"unknown echo mode '{args[4]}'");
                    return 64;
            }
        }
        catch (IicChannelClosedException)
        {
            Console.WriteLine("closed");
            return 0;
        }
        Console.Error.WriteLine("the echo loop ended without the channel closing");
        return 1;
    }

    /// <summary>Receives one message, then disposes its channel, prints "closed" and waits for "exit" on stdin.</summary>
    [Scenario("transport-close-after-first")]
    private static int CloseAfterFirst(string[] args)
    {
        using var partition = Attach(args);
        var channel = Connect(partition, args);
        Console.WriteLine("connected");
        var buffer = new byte[1024];
        var length = channel.Receive(buffer);
        channel.Dispose();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"closed {length}"));
        return Console.In.ReadLine() == "exit" ? 0 : 1;
    }

    /// <summary>
    /// A slow receiver: prints "connected", reads nothing until "go" arrives on stdin, then receives args[4]
    /// numbered messages, checks their order and contents, prints "ok COUNT".
    /// </summary>
    [Scenario("transport-slow-receiver")]
    private static int SlowReceiver(string[] args)
    {
        using var partition = Attach(args);
        using var channel = Connect(partition, args);
        Console.WriteLine("connected");
        if (Console.In.ReadLine() != "go")
        {
            return 2;
        }
        var count = long.Parse(args[4], CultureInfo.InvariantCulture);
        var buffer = new byte[4096];
        for (long i = 0; i < count; i++)
        {
            var length = channel.Receive(buffer);
            var problem = Pattern.Check(buffer.AsSpan(0, length), i);
            if (problem is not null)
            {
                Console.Error.WriteLine(problem);
                return 1;
            }
        }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"ok {count}"));
        return 0;
    }

    /// <summary>A TLS server over AsStream(): args[4] is the certificate (PFX, base64); echoes until the client closes.</summary>
    [Scenario("transport-tls-server")]
    private static int TlsServer(string[] args) => TlsServerAsync(args).GetAwaiter().GetResult();

    private static async Task<int> TlsServerAsync(string[] args)
    {
        using var certificate = X509CertificateLoader.LoadPkcs12(Convert.FromBase64String(args[4]), null);
        using var partition = Attach(args);
        var channel = Connect(partition, args);
        Console.WriteLine("connected");
        await using var tls = new SslStream(channel.AsStream(), leaveInnerStreamOpen: false);
        await tls.AuthenticateAsServerAsync(certificate);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"authenticated {tls.SslProtocol}"));
        var buffer = new byte[16 * 1024];
        int read;
        while ((read = await tls.ReadAsync(buffer)) > 0)
        {
            await tls.WriteAsync(buffer.AsMemory(0, read));
        }
        Console.WriteLine("closed");
        return 0;
    }

    /// <summary>A StreamJsonRpc server over AsStream(); ends when the client closes.</summary>
    [Scenario("transport-jsonrpc-server")]
    private static int JsonRpcServer(string[] args) => JsonRpcServerAsync(args).GetAwaiter().GetResult();

    private static async Task<int> JsonRpcServerAsync(string[] args)
    {
        using var partition = Attach(args);
        var channel = Connect(partition, args);
        Console.WriteLine("connected");
        using var rpc = JsonRpc.Attach(channel.AsStream(), new CalculatorService());
        await rpc.Completion;
        Console.WriteLine("closed");
        return 0;
    }

    /// <summary>The README's server: args are the hypervisor name and socket directory.</summary>
    [Scenario("readme-server")]
    private static int ReadmeServer(string[] args)
    {
        EchoDemo.EchoServer.Run(args[0], args[1]);
        return 0;
    }

    /// <summary>The README's client: args are the hypervisor name and socket directory.</summary>
    [Scenario("readme-client")]
    private static int ReadmeClient(string[] args)
    {
        EchoDemo.EchoClient.RunAsync(args[0], args[1]).GetAwaiter().GetResult();
        return 0;
    }

    private static Partition Attach(string[] args) => Partition.Attach(args[0], "child-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture), args[1]);

    private static IicChannel Connect(Partition partition, string[] args)
        => IicChannel.Connect(partition, args[2], new ChannelOptions { RingCapacity = int.Parse(args[3], CultureInfo.InvariantCulture) });

    private static void ReceiveSendEcho(IicChannel channel)
    {
        var buffer = new byte[MaxEcho];
        while (true)
        {
            var length = channel.Receive(buffer);
            channel.Send(buffer.AsSpan(0, length));
        }
    }

    /// <summary>The server of a request/reply protocol: each reply sent with the receive of the next request (IicChannel.SendAndReceive).</summary>
    private static void SendAndReceiveEcho(IicChannel channel)
    {
        var buffer = new byte[MaxEcho];
        var length = channel.Receive(buffer);
        while (true)
        {
            length = channel.SendAndReceive(buffer.AsSpan(0, length), buffer); // the reply's memory is the next request's
        }
    }

    private static async Task PollEchoAsync(IicChannel channel)
    {
        var round = 0;
        while (true)
        {
            await channel.WaitToReceiveAsync();
            if (round++ % 2 == 0)
            {
                var handler = new ClaimEchoHandler(channel);
                channel.Poll(ref handler);
            }
            else
            {
                channel.Poll(static (message, target) => target.Send(message), channel, limit: 1);
            }
        }
    }

    private static async Task AsyncEcho(IicChannel channel)
    {
        var buffer = new byte[MaxEcho];
        while (true)
        {
            var length = await channel.ReceiveAsync(buffer);
            channel.Send(buffer.AsSpan(0, length));
        }
    }

    private static async Task StreamAsyncEcho(Stream stream)
    {
        var buffer = new byte[7000]; // an odd size: stream reads must not care about message boundaries
        int read;
        while ((read = await stream.ReadAsync(buffer)) > 0)
        {
            await stream.WriteAsync(buffer.AsMemory(0, read));
            await stream.FlushAsync();
        }
    }

    private static async Task PipeEcho(IDuplexPipe pipe)
    {
        while (true)
        {
            var result = await pipe.Input.ReadAsync();
            foreach (var segment in result.Buffer)
            {
                await pipe.Output.WriteAsync(segment);
            }
            pipe.Input.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted)
            {
                break;
            }
        }
        await pipe.Input.CompleteAsync();
        await pipe.Output.CompleteAsync();
    }

    /// <summary>Echoes in place: claims room in the outgoing ring and copies the incoming span straight into it.</summary>
    private readonly struct ClaimEchoHandler(IicChannel channel) : IMessageHandler
    {
        public void OnMessage(ReadOnlySpan<byte> message)
        {
            if (message.Length <= channel.MaxClaimLength && channel.TryClaim(message.Length, out var claim))
            {
                message.CopyTo(claim.Span);
                claim.Commit();
            }
            else
            {
                channel.Send(message); // larger than a record, or the ring is full: Send fragments and waits
            }
        }
    }
}

/// <summary>Numbered messages whose every byte depends on the number: the receiver checks order and contents.</summary>
public static class Pattern
{
    /// <summary>Fills <paramref name="message"/> (at least 8 bytes) as message <paramref name="sequence"/>.</summary>
    public static void Fill(Span<byte> message, long sequence)
    {
        BinaryPrimitives.WriteInt64LittleEndian(message, sequence);
        for (var i = 8; i < message.Length; i++)
        {
            message[i] = (byte)((sequence * 31) + (i * 7));
        }
    }

    /// <summary>Null if <paramref name="message"/> is message <paramref name="sequence"/>; else what is wrong.</summary>
    public static string? Check(ReadOnlySpan<byte> message, long sequence)
    {
        if (message.Length < 8)
        {
            return string.Create(CultureInfo.InvariantCulture, $"message {sequence} has only {message.Length} bytes");
        }
        var seen = BinaryPrimitives.ReadInt64LittleEndian(message);
        if (seen != sequence)
        {
            return string.Create(CultureInfo.InvariantCulture, $"expected message {sequence}, got {seen} (lost, duplicated or reordered)");
        }
        for (var i = 8; i < message.Length; i++)
        {
            if (message[i] != (byte)((sequence * 31) + (i * 7)))
            {
                return string.Create(CultureInfo.InvariantCulture, $"message {sequence}: byte {i} of {message.Length} is wrong");
            }
        }
        return null;
    }
}

/// <summary>What the JSON-RPC test calls in the child.</summary>
public sealed class CalculatorService
{
    private int _calls;

    /// <summary>Adds.</summary>
    public int Add(int a, int b)
    {
        Interlocked.Increment(ref _calls);
        return a + b;
    }

    /// <summary>How many calls this instance served.</summary>
    public int Calls() => Volatile.Read(ref _calls);

    /// <summary>Echoes text, reversed, with the child's pid (so the test sees it ran in another process).</summary>
    public string Reverse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        Interlocked.Increment(ref _calls);
        var chars = text.ToCharArray();
        Array.Reverse(chars);
        return new string(chars) + "@" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>Sums a large array (a request of several records).</summary>
    public long Sum(int[] values)
    {
        ArgumentNullException.ThrowIfNull(values);
        Interlocked.Increment(ref _calls);
        long total = 0;
        foreach (var value in values)
        {
            total += value;
        }
        return total;
    }
}

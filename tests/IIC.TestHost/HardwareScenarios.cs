using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using IIC.Hardware;
using IIC.Native;
using IIC.Transport;

namespace IIC.TestHost;

/// <summary>
/// Deterministic message contents for the cross-process tests: a message's size comes from a seeded
/// <see cref="Random"/> both sides share, and every byte is a function of the message's sequence number, so the
/// receiver checks each byte (a checksum that cannot miss) and the order, with no bookkeeping on the wire.
/// </summary>
public static class TorturePattern
{
    private const ulong K1 = 0x9E37_79B9_7F4A_7C15;
    private const ulong K2 = 0xBF58_476D_1CE4_E5B9;

    /// <summary>The smallest message: the sequence number (int64) and one more word.</summary>
    public const int MinSize = 16;

    /// <summary>
    /// The next message size: 90 % small (16-64 B, one cache line or two), 9 % medium (up to 2 KiB), 1 % large
    /// (up to <paramref name="maxSize"/>, fragmented when above the ring's largest record).
    /// </summary>
    public static int NextSize(Random random, int maxSize)
    {
        ArgumentNullException.ThrowIfNull(random);
        var p = random.Next(100);
        return p < 90 ? random.Next(MinSize, 65) : p < 99 ? random.Next(65, 2049) : random.Next(2049, maxSize + 1);
    }

    /// <summary>Fills <paramref name="message"/> as message number <paramref name="sequence"/>.</summary>
    public static void Fill(Span<byte> message, long sequence)
    {
        var words = MemoryMarshal.Cast<byte, ulong>(message[..(message.Length & ~7)]);
        words[0] = (ulong)sequence;
        for (var i = 1; i < words.Length; i++)
        {
            words[i] = ((ulong)sequence * K1) ^ ((ulong)i * K2);
        }
        for (var i = message.Length & ~7; i < message.Length; i++)
        {
            message[i] = (byte)(sequence + i);
        }
    }

    /// <summary>Checks <paramref name="message"/> is exactly message <paramref name="sequence"/> of <paramref name="expectedLength"/> bytes; null if so, else what is wrong.</summary>
    public static string? Check(ReadOnlySpan<byte> message, long sequence, int expectedLength)
    {
        if (message.Length != expectedLength)
        {
            var seen = message.Length >= 8 ? BinaryPrimitives.ReadInt64LittleEndian(message) : -1;
            return string.Create(CultureInfo.InvariantCulture, $"message {sequence}: length {message.Length}, expected {expectedLength} (it carries sequence {seen})");
        }
        var words = MemoryMarshal.Cast<byte, ulong>(message[..(message.Length & ~7)]);
        if (words[0] != (ulong)sequence)
        {
            return string.Create(CultureInfo.InvariantCulture, $"expected message {sequence} but got message {(long)words[0]} (lost, duplicated or reordered)");
        }
        for (var i = 1; i < words.Length; i++)
        {
            if (words[i] != (((ulong)sequence * K1) ^ ((ulong)i * K2)))
            {
                return string.Create(CultureInfo.InvariantCulture, $"message {sequence} ({message.Length} bytes) is corrupt at byte {i * 8}");
            }
        }
        for (var i = message.Length & ~7; i < message.Length; i++)
        {
            if (message[i] != (byte)(sequence + i))
            {
                return string.Create(CultureInfo.InvariantCulture, $"message {sequence} ({message.Length} bytes) is corrupt at byte {i}");
            }
        }
        return null;
    }
}

/// <summary>
/// Child sides of the IIC.Hardware cross-process tests. The parent creates the window and sends its memfd over the
/// control socket (SCM_RIGHTS); the child opens it with <see cref="SharedWindow.Open"/> (seals, size, header checked)
/// and attaches to side 1. Each scenario returns 0 when its checks pass; a failed check throws (exit code 70).
/// Every wait is bounded.
/// </summary>
public static class HardwareScenarios
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Torture: args count, sendSeed, receiveSeed, maxSize, strategy. Sends <c>count</c> pattern messages to side 0
    /// from one thread while another receives and checks <c>count</c> from side 0. Prints "ready", then a summary.
    /// </summary>
    [Scenario("hw-torture")]
    private static int Torture(string[] args)
    {
        var count = long.Parse(args[0], CultureInfo.InvariantCulture);
        var sendSeed = int.Parse(args[1], CultureInfo.InvariantCulture);
        var receiveSeed = int.Parse(args[2], CultureInfo.InvariantCulture);
        var maxSize = int.Parse(args[3], CultureInfo.InvariantCulture);
        var strategy = WaitStrategy.Parse(args[4]);
        using var window = OpenWindow();
        using var endpoint = new WindowEndpoint(window, 1, strategy);
        Console.WriteLine("ready");
        string? receiveError = null;
        var receiver = new Thread(() => receiveError = ReceivePatterns(endpoint, count, receiveSeed, maxSize)) { Name = "torture receiver" };
        receiver.Start();
        var sendError = SendPatterns(endpoint, count, sendSeed, maxSize);
        if (!receiver.Join(s_timeout * 2))
        {
            throw new TimeoutException("the receiver thread did not finish");
        }
        Check(sendError is null, $"send: {sendError}");
        Check(receiveError is null, $"receive: {receiveError}");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"ok received={endpoint.MessagesReceived} sent={endpoint.MessagesSent} parks={endpoint.Waiter.Parks} timeouts={endpoint.Waiter.ParkTimeouts} spinhits={endpoint.Waiter.SpinHits} stalls={endpoint.RingFullStalls}"));
        return 0;
    }

    /// <summary>Sends <paramref name="count"/> pattern messages; returns null or what went wrong.</summary>
    internal static string? SendPatterns(WindowEndpoint endpoint, long count, int seed, int maxSize)
    {
        var random = new Random(seed);
        var buffer = new byte[maxSize];
        for (long i = 0; i < count; i++)
        {
            var message = buffer.AsSpan(0, TorturePattern.NextSize(random, maxSize));
            TorturePattern.Fill(message, i);
            if (!endpoint.Send(message, Deadline(s_timeout)))
            {
                return string.Create(CultureInfo.InvariantCulture, $"message {i} found no room within {s_timeout.TotalSeconds} s");
            }
        }
        return null;
    }

    /// <summary>Receives and checks <paramref name="count"/> pattern messages; returns null or what went wrong.</summary>
    internal static string? ReceivePatterns(WindowEndpoint endpoint, long count, int seed, int maxSize)
    {
        var random = new Random(seed);
        var buffer = new byte[maxSize];
        for (long i = 0; i < count; i++)
        {
            var expected = TorturePattern.NextSize(random, maxSize);
            if (!endpoint.TryReceive(buffer, out var length, Deadline(s_timeout)))
            {
                return string.Create(CultureInfo.InvariantCulture, $"message {i} did not arrive within {s_timeout.TotalSeconds} s");
            }
            var error = TorturePattern.Check(buffer.AsSpan(0, length), i, expected);
            if (error is not null)
            {
                return error;
            }
        }
        return null;
    }

    /// <summary>
    /// No lost wake-up: args count, spinBudgetMicroseconds. Receives <c>count</c> pattern messages (fixed 16 bytes)
    /// with SpinThenPark(budget) and a 2 s park timeout (a timeout means a lost wake), then prints the counters.
    /// </summary>
    [Scenario("hw-burst-receiver")]
    private static int BurstReceiver(string[] args)
    {
        var count = long.Parse(args[0], CultureInfo.InvariantCulture);
        var budget = TimeSpan.FromMicroseconds(double.Parse(args[1], CultureInfo.InvariantCulture));
        using var window = OpenWindow();
        using var endpoint = new WindowEndpoint(window, 1, WaitStrategy.SpinThenPark(budget, TimeSpan.FromSeconds(2)));
        Console.WriteLine("ready");
        var buffer = new byte[64];
        for (long i = 0; i < count; i++)
        {
            Check(endpoint.TryReceive(buffer, out var length, Deadline(s_timeout)), $"message {i} did not arrive");
            var error = TorturePattern.Check(buffer.AsSpan(0, length), i, TorturePattern.MinSize);
            Check(error is null, error ?? "");
        }
        var w = endpoint.Waiter;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"parks={w.Parks} timeouts={w.ParkTimeouts} spinhits={w.SpinHits}"));
        return 0;
    }

    /// <summary>
    /// Adaptive echo: echoes every message back. A 1-byte message 'R' prints "phase parks=... spinhits=..." and is
    /// echoed; 'Q' prints "final parks=..." and ends.
    /// </summary>
    [Scenario("hw-echo")]
    private static int Echo(string[] args)
    {
        var strategy = WaitStrategy.Parse(args.Length > 0 ? args[0] : "adaptive");
        using var window = OpenWindow();
        using var endpoint = new WindowEndpoint(window, 1, strategy);
        Console.WriteLine("ready");
        var buffer = new byte[4096];
        long echoed = 0;
        while (true)
        {
            Check(endpoint.TryReceive(buffer, out var length, Deadline(s_timeout)), "the parent sent nothing for 60 s");
            var w = endpoint.Waiter;
            if (length == 1 && buffer[0] == (byte)'Q')
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"final parks={w.Parks} spinhits={w.SpinHits} timeouts={w.ParkTimeouts} echoed={echoed}"));
                return 0;
            }
            if (length == 1 && buffer[0] == (byte)'R')
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"phase parks={w.Parks} spinhits={w.SpinHits} timeouts={w.ParkTimeouts} echoed={echoed} budget={w.CurrentSpinBudget.TotalMicroseconds:0.#} wake={w.WakeLatency.TotalMicroseconds:0.#}"));
            }
            Check(endpoint.Send(buffer.AsSpan(0, length), Deadline(s_timeout)), "no room to echo for 60 s");
            echoed++;
        }
    }

    /// <summary>
    /// Sends args[0] pattern messages of 16 bytes, then args[1]: "close" disposes the endpoint and exits;
    /// "claim-and-hang" claims a record, writes half of it, prints "claimed" and waits on stdin to be killed.
    /// </summary>
    [Scenario("hw-send-then")]
    private static int SendThen(string[] args)
    {
        var count = int.Parse(args[0], CultureInfo.InvariantCulture);
        using var window = OpenWindow();
        var endpoint = new WindowEndpoint(window, 1, WaitStrategy.Adaptive);
        var message = new byte[TorturePattern.MinSize];
        for (var i = 0; i < count; i++)
        {
            TorturePattern.Fill(message, i);
            Check(endpoint.Send(message, Deadline(s_timeout)), $"no room for message {i}");
        }
        if (args[1] == "close")
        {
            endpoint.Dispose();
            Console.WriteLine("closed");
            return 0;
        }
        Check(endpoint.TryClaim(TorturePattern.MinSize, out var claim), "no room to claim");
        TorturePattern.Fill(claim[..8], count); // half written: this record must never be delivered
        Console.WriteLine("claimed");
        // Wait to be killed. Bounded: stdin closes if the parent goes away, and the parent kills us within seconds.
        var line = Console.In.ReadLineAsync().WaitAsync(s_timeout).GetAwaiter().GetResult();
        Console.Error.WriteLine($"not killed; stdin said '{line}'");
        return 3;
    }

    private static SharedWindow OpenWindow()
    {
        using var control = ParentChannel.Connect();
        var descriptors = new List<FileDescriptor>();
        Span<byte> message = stackalloc byte[8];
        ParentChannel.Receive(control, message, descriptors);
        Check(descriptors.Count == 1, $"expected one descriptor (the window), got {descriptors.Count}");
        return SharedWindow.Open(descriptors[0]);
    }

    private static long Deadline(TimeSpan span) => Stopwatch.GetTimestamp() + (long)(span.TotalSeconds * Stopwatch.Frequency);

    private static void Check(bool condition, string what)
    {
        if (!condition)
        {
            throw new InvalidOperationException(what);
        }
    }
}

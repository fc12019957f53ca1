using System.Buffers.Binary;
using System.Globalization;
using IIC.Hardware;
using IIC.Native;
using IIC.Transport;

namespace IIC.TestHost;

/// <summary>
/// A deterministic stream of messages for the reliability tests: message <c>k</c> of stream <c>s</c> has a size
/// and contents both sides compute from (s, k), so the receiver checks every byte, the order, and the count.
/// Sizes run from 0 B to <c>maxSize</c> (mostly small, some large, a few near the maximum). A message of at least
/// 16 bytes starts with <c>[stream:int32][~stream:int32][sequence:int64]</c>. The end of a stream is a message of
/// exactly <see cref="EndLength"/> bytes (a size no data message has) holding the number of data messages sent.
/// </summary>
public static class SoakPattern
{
    /// <summary>The length of the end-of-stream message: 'E', the count (int64), 4 bytes of 0xEE.</summary>
    public const int EndLength = 13;

    private const int SourceLength = 4 << 20;
    private static readonly byte[] s_source = MakeSource();

    /// <summary>Message <paramref name="sequence"/>'s size in stream <paramref name="stream"/>.</summary>
    public static int SizeOf(long stream, long sequence, int maxSize)
    {
        var h = Mix((ulong)stream * 0x9E3779B97F4A7C15UL ^ (ulong)sequence);
        var bucket = (int)(h % 100);
        var r = h >> 8;
        var size = bucket < 70 ? (int)(r % 257) // 0..256
            : bucket < 95 ? 257 + (int)(r % (ulong)Math.Max(1, Math.Min(64 * 1024, maxSize) - 256))
            : (int)(r % (ulong)(maxSize + 1));
        size = Math.Min(size, maxSize);
        return size == EndLength ? EndLength + 1 : size;
    }

    /// <summary>Writes message <paramref name="sequence"/> into <paramref name="buffer"/> and returns its length.</summary>
    public static int Fill(Span<byte> buffer, long stream, long sequence, int maxSize)
    {
        var size = SizeOf(stream, sequence, maxSize);
        var message = buffer[..size];
        s_source.AsSpan(Offset(stream, sequence), size).CopyTo(message);
        if (size >= 16)
        {
            BinaryPrimitives.WriteInt32LittleEndian(message, (int)stream);
            BinaryPrimitives.WriteInt32LittleEndian(message[4..], ~(int)stream);
            BinaryPrimitives.WriteInt64LittleEndian(message[8..], sequence);
        }
        return size;
    }

    /// <summary>Null if <paramref name="message"/> is exactly message <paramref name="sequence"/> of the stream; else what is wrong.</summary>
    public static string? Check(ReadOnlySpan<byte> message, long stream, long sequence, int maxSize)
    {
        var size = SizeOf(stream, sequence, maxSize);
        if (message.Length >= 16)
        {
            var seenStream = BinaryPrimitives.ReadInt32LittleEndian(message);
            var seen = BinaryPrimitives.ReadInt64LittleEndian(message[8..]);
            if (seenStream != (int)stream || BinaryPrimitives.ReadInt32LittleEndian(message[4..]) != ~(int)stream)
            {
                return string.Create(CultureInfo.InvariantCulture, $"stream {stream} message {sequence}: the stream header is corrupt ({seenStream})");
            }
            if (seen != sequence)
            {
                return string.Create(CultureInfo.InvariantCulture, $"stream {stream}: expected message {sequence}, got {seen} (lost, duplicated or reordered)");
            }
        }
        if (message.Length != size)
        {
            return string.Create(CultureInfo.InvariantCulture, $"stream {stream} message {sequence}: {message.Length} bytes, expected {size} (lost, duplicated, reordered or truncated)");
        }
        var start = size >= 16 ? 16 : 0;
        var expected = s_source.AsSpan(Offset(stream, sequence) + start, size - start);
        if (!message[start..].SequenceEqual(expected))
        {
            var at = start + message[start..].CommonPrefixLength(expected);
            return string.Create(CultureInfo.InvariantCulture, $"stream {stream} message {sequence}: byte {at} of {size} is corrupt");
        }
        return null;
    }

    /// <summary>Writes the end-of-stream message for <paramref name="count"/> data messages.</summary>
    public static int FillEnd(Span<byte> buffer, long count)
    {
        buffer[0] = (byte)'E';
        BinaryPrimitives.WriteInt64LittleEndian(buffer[1..], count);
        buffer.Slice(9, 4).Fill(0xEE);
        return EndLength;
    }

    /// <summary>The count in an end-of-stream message, or -1 if it is not one.</summary>
    public static long ReadEnd(ReadOnlySpan<byte> message)
        => message.Length == EndLength && message[0] == 'E' && message[9..].IndexOfAnyExcept((byte)0xEE) < 0
            ? BinaryPrimitives.ReadInt64LittleEndian(message[1..]) : -1;

    private static int Offset(long stream, long sequence) => (int)(Mix((ulong)sequence * 31 + (ulong)stream) % (SourceLength / 2));

    private static ulong Mix(ulong z)
    {
        z += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    private static byte[] MakeSource()
    {
        var source = new byte[SourceLength];
        new Random(20261126).NextBytes(source);
        return source;
    }
}

/// <summary>Sends and receives <see cref="SoakPattern"/>s over a channel, with every message checked.</summary>
public static class SoakRunner
{
    /// <summary>Sends stream <paramref name="stream"/> until <paramref name="deadline"/> (Stopwatch ticks) or <paramref name="count"/> messages, then the end message; returns the count.</summary>
    public static long Send(IicChannel channel, long stream, int maxSize, long deadline, long count, Action<long>? onSent = null)
    {
        var buffer = new byte[maxSize];
        long sent = 0;
        while (sent < count && System.Diagnostics.Stopwatch.GetTimestamp() < deadline)
        {
            var length = SoakPattern.Fill(buffer, stream, sent, maxSize);
            channel.Send(buffer.AsSpan(0, length));
            sent++;
            onSent?.Invoke(sent);
        }
        var end = SoakPattern.FillEnd(buffer, sent);
        channel.Send(buffer.AsSpan(0, end));
        return sent;
    }

    /// <summary>
    /// Receives stream <paramref name="stream"/> up to its end message, checking each message; waits at most
    /// <paramref name="idleLimit"/> for any one message. Returns (messages, bytes); throws on any problem.
    /// </summary>
    public static (long Messages, long Bytes) Receive(IicChannel channel, long stream, int maxSize, TimeSpan idleLimit, Action<long>? onReceived = null)
    {
        var buffer = new byte[Math.Max(maxSize, SoakPattern.EndLength)];
        long received = 0, bytes = 0;
        while (true)
        {
            if (!channel.TryReceive(buffer, out var length, idleLimit))
            {
                throw new TimeoutException(string.Create(CultureInfo.InvariantCulture, $"stream {stream}: no message for {idleLimit.TotalSeconds} s after {received} messages"));
            }
            var message = buffer.AsSpan(0, length);
            var end = SoakPattern.ReadEnd(message);
            if (end >= 0)
            {
                if (end != received)
                {
                    throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture, $"stream {stream}: the sender sent {end} messages, {received} arrived"));
                }
                return (received, bytes);
            }
            if (SoakPattern.Check(message, stream, received, maxSize) is { } problem)
            {
                throw new InvalidDataException(problem);
            }
            received++;
            bytes += length;
            onReceived?.Invoke(received);
        }
    }
}

/// <summary>Which seeds of the hostile child tell a targeted lie.</summary>
public static class HostileSeeds
{
    /// <summary>The targeted lie seed <paramref name="seed"/> tells (0-13), or -1 for random bytes: seeds 0-39 are random, then 14 targeted and 14 random seeds alternate.</summary>
    public static int TargetedMode(int seed) => seed < 40 || (seed - 40) % 28 >= 14 ? -1 : (seed - 40) % 28;
}

/// <summary>
/// Child partitions of IIC.Reliability.Tests. Arguments start with <c>hypervisor socket-directory service ring-capacity</c>.
/// </summary>
internal static class ReliabilityScenarios
{
    /// <summary>
    /// args[4..]: channels strategies(comma list, one per channel, cycled) streamBase maxSize seconds count gate.
    /// Connects <c>channels</c> channels to the service; on channel i it sends stream (streamBase + 2i) and receives
    /// stream (streamBase + 2i + 1), both at once, every message checked. Sends for <c>seconds</c> or <c>count</c>
    /// messages, whichever ends first. gate=1: waits for "go" on stdin before sending or receiving.
    /// Prints "connected", then "ok MESSAGES BYTES" (received) and exits 0; any problem goes to stderr, exit 1.
    /// </summary>
    [Scenario("rel-duplex")]
    private static int Duplex(string[] args)
    {
        var channels = int.Parse(args[4], CultureInfo.InvariantCulture);
        var strategies = args[5].Split(',');
        var streamBase = long.Parse(args[6], CultureInfo.InvariantCulture);
        var maxSize = int.Parse(args[7], CultureInfo.InvariantCulture);
        var seconds = double.Parse(args[8], CultureInfo.InvariantCulture);
        var count = long.Parse(args[9], CultureInfo.InvariantCulture);
        var gate = args[10] == "1";
        using var partition = Attach(args);
        var list = new List<IicChannel>();
        for (var i = 0; i < channels; i++)
        {
            list.Add(IicChannel.Connect(partition, args[2], new ChannelOptions
            {
                RingCapacity = int.Parse(args[3], CultureInfo.InvariantCulture),
                WaitStrategy = WaitStrategy.Parse(strategies[i % strategies.Length]),
            }, TimeSpan.FromSeconds(20)));
        }
        Console.WriteLine("connected");
        if (gate && Console.ReadLine() != "go")
        {
            return 2;
        }
        var deadline = System.Diagnostics.Stopwatch.GetTimestamp() + (long)(seconds * System.Diagnostics.Stopwatch.Frequency);
        long messages = 0, bytes = 0;
        var failures = 0;
        var threads = new List<Thread>();
        for (var i = 0; i < channels; i++)
        {
            var channel = list[i];
            var sendStream = streamBase + (2 * i);
            var receiveStream = sendStream + 1;
            threads.Add(Start(() => SoakRunner.Send(channel, sendStream, maxSize, deadline, count)));
            threads.Add(Start(() =>
            {
                var (m, b) = SoakRunner.Receive(channel, receiveStream, maxSize, TimeSpan.FromSeconds(60));
                Interlocked.Add(ref messages, m);
                Interlocked.Add(ref bytes, b);
            }));
        }
        foreach (var thread in threads)
        {
            thread.Join();
        }
        foreach (var channel in list)
        {
            channel.Dispose();
        }
        if (failures > 0)
        {
            return 1;
        }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"ok {messages} {bytes}"));
        return 0;

        Thread Start(Action body)
        {
            var thread = new Thread(() =>
            {
                try
                {
                    body();
                }
                catch (Exception e)
                {
                    Interlocked.Increment(ref failures);
                    Console.Error.WriteLine(e);
                }
            }) { IsBackground = true };
            thread.Start();
            return thread;
        }
    }

    /// <summary>
    /// args[4..]: seedFrom seedCount. For each seed: connects a fresh channel, prints "connected SEED", sends some
    /// valid stream messages (stream = seed), scribbles into the shared window as the seed says (see
    /// <see cref="Scribble"/>), sends some more (never waiting), prints "done SEED" and waits for "next" on stdin
    /// before closing that channel. Prints "finished" at the end.
    /// </summary>
    [Scenario("rel-hostile")]
    private static unsafe int Hostile(string[] args)
    {
        var from = int.Parse(args[4], CultureInfo.InvariantCulture);
        var seeds = int.Parse(args[5], CultureInfo.InvariantCulture);
        using var partition = Attach(args);
        var buffer = new byte[HostileMaxSize];
        for (var seed = from; seed < from + seeds; seed++)
        {
            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"seed {seed}: connecting"));
            var channel = Connect(partition, args);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"connected {seed}"));
            var random = new Random(seed);
            long sequence = 0;
            var what = "";
            try
            {
                // Targeted lies (seeds from 40) go to an empty ring, at the head, so each has one predictable outcome.
                var before = random.Next(0, 20);
                sequence = SendSome(channel, seed, buffer, sequence, HostileSeeds.TargetedMode(seed) < 0 ? before : 0);
                what = Scribble(channel.Endpoint.Window, channel.Endpoint.Side, seed, random);
                var after = random.Next(0, 20);
                sequence = SendSome(channel, seed, buffer, sequence, HostileSeeds.TargetedMode(seed) < 0 ? after : 0);
            }
            catch (Exception e) when (e is RingFaultException or PeerDeadException or IicChannelClosedException or InvalidDataException)
            {
                // Our own scribbles can fault our side too (e.g. the victim's head we overwrote); that is fine.
            }
            Console.WriteLine($"done {seed} {what}");
            if (Console.ReadLine() != "next")
            {
                return 2;
            }
            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"seed {seed}: closing"));
            try
            {
                channel.Dispose();
            }
            catch (Exception e) when (e is RingFaultException or InvalidDataException)
            {
            }
        }
        Console.WriteLine("finished");
        return 0;
    }

    /// <summary>The largest message the hostile child sends (so the victim's buffer of this size never overflows legitimately).</summary>
    public const int HostileMaxSize = 8 * 1024; // one record in a 64 KiB ring: a fragmented TrySend could wait past its timeout for a victim that stopped reading

    private static long SendSome(IicChannel channel, long stream, byte[] buffer, long sequence, int count)
    {
        for (var i = 0; i < count; i++)
        {
            var length = SoakPattern.Fill(buffer, stream, sequence, HostileMaxSize);
            if (!channel.TrySend(buffer.AsSpan(0, length), TimeSpan.FromMilliseconds(1)))
            {
                break;
            }
            sequence++;
        }
        return sequence;
    }

    /// <summary>
    /// Writes into the window this side shares with the victim (side 1 - <paramref name="side"/>): random seeds
    /// write random bytes at random offsets (anywhere past the immutable header: interrupt blocks, side blocks, both
    /// rings' control lines and data); targeted seeds (<see cref="HostileSeeds.TargetedMode"/>) tell one lie each. Returns what it did.
    /// </summary>
    private static unsafe string Scribble(SharedWindow window, int side, int seed, Random random)
    {
        using var lease = window.Lease();
        var b = lease.Base;
        var size = window.Size;
        var victim = 1 - side;
        var ring = window.GetRing(side); // we write it; the victim reads it
        var back = window.GetRing(victim); // the victim writes it; we read it
        var data = b + ring.Offset + DescriptorRing.DataOffset;
        var capacity = ring.Capacity;
        var head = *(long*)(b + ring.Offset + DescriptorRing.HeadOffset);
        var at = (int)(head & (capacity - 1)); // where the victim reads next (roughly: it may have moved on)
        var pageOffset = *(long*)(b + 64 + (16 * victim));
        var mode = HostileSeeds.TargetedMode(seed);
        switch (mode)
        {
            case -1:
                var writes = random.Next(1, 64);
                for (var i = 0; i < writes; i++)
                {
                    var offset = random.NextInt64(SharedWindow.HeaderSize, size - 8);
                    *(long*)(b + (offset & ~7L)) = random.NextInt64() ^ ((long)random.Next() << 32);
                }
                return "random " + writes;
            case 0: // a huge length at the head
                Volatile.Write(ref *(int*)(data + at), int.MaxValue - random.Next(0, 8));
                return "huge length";
            case 1: // a negative length that is no possible claim
                Volatile.Write(ref *(int*)(data + at), int.MinValue + random.Next(0, 3));
                return "negative length";
            case 2: // a record running past the end of the data area
                *(int*)(data + at + 4) = (int)RecordFraming.Unfragmented;
                Volatile.Write(ref *(int*)(data + at), capacity - at + 8);
                return "record beyond the ring";
            case 3: // the victim's head (its consumer line of the ring it writes) far beyond its tail
                Volatile.Write(ref *(long*)(b + back.Offset + DescriptorRing.HeadOffset), long.MaxValue / 2);
                return "head beyond the tail";
            case 4: // the victim's head moved backwards and misaligned
                Volatile.Write(ref *(long*)(b + back.Offset + DescriptorRing.HeadOffset), -13);
                return "negative head";
            case 5: // undefined flags
                *(int*)(data + at + 4) = 0x70;
                Volatile.Write(ref *(int*)(data + at), 16);
                return "unknown flags";
            case 6: // padding that claims more than the data area
                *(int*)(data + at + 4) = (int)RecordFraming.Padding;
                Volatile.Write(ref *(int*)(data + at), capacity + 64);
                return "padding beyond the ring";
            case 7: // a chain of tiny padding records (the reader skips at most one lap per call)
                for (var o = at; o + 8 <= capacity; o += 8)
                {
                    *(int*)(data + o + 4) = (int)RecordFraming.Padding;
                    Volatile.Write(ref *(int*)(data + o), 8);
                }
                return "padding chain";
            case 8: // a middle fragment with no beginning
                *(int*)(data + at + 4) = (int)RecordFraming.None;
                Volatile.Write(ref *(int*)(data + at), 64);
                return "fragment without a beginning";
            case 9: // a beginning that claims a message of 2^40 bytes
                *(int*)(data + at + 4) = (int)RecordFraming.Begin;
                *(long*)(data + at + 8) = 1L << 40;
                Volatile.Write(ref *(int*)(data + at), 64);
                return "fragment claiming 2^40 bytes";
            case 10: // a beginning followed by another beginning
                *(int*)(data + at + 4) = (int)RecordFraming.Begin;
                *(long*)(data + at + 8) = 100_000;
                *(int*)(data + at + 64 + 4) = (int)RecordFraming.Begin;
                *(long*)(data + at + 64 + 8) = 100_000;
                Volatile.Write(ref *(int*)(data + at + 64), 64);
                Volatile.Write(ref *(int*)(data + at), 64);
                return "two beginnings";
            case 11: // the victim's interrupt block: garbage in seq, sleeping, raised-at, summary and pending
                for (var o = InterruptPage.SeqOffset; o < InterruptPage.SizeFor(SharedWindow.EmbeddedVectorCount); o += 8)
                {
                    *(long*)(b + pageOffset + o) = random.NextInt64() | long.MinValue;
                }
                window.GetInterruptPage(victim).WakeAlways();
                return "interrupt block";
            case 12: // our side's state block: an impossible state
                Volatile.Write(ref *(int*)(b + 128 + (128 * side)), 77);
                return "side state";
            default: // an end fragment that overshoots a legitimate beginning
                *(int*)(data + at + 4) = (int)RecordFraming.Begin;
                *(long*)(data + at + 8) = 200;
                *(int*)(data + at + 64 + 4) = (int)RecordFraming.End;
                Volatile.Write(ref *(int*)(data + at + 64), 8 + 400);
                Volatile.Write(ref *(int*)(data + at), 64);
                return "end fragment overshoots";
        }
    }

    /// <summary>
    /// args[4..]: seconds everyN. Connects, prints "connected", then floods the victim's interrupt block for
    /// <c>seconds</c>: every pass sets pending bits, bumps the futex word and wakes it (RaiseAlways + WakeAlways);
    /// every <c>everyN</c> passes it sends the next valid message of stream 7. Ends with the end message; prints
    /// "flooded WAKES MESSAGES" and waits for stdin to close.
    /// </summary>
    [Scenario("rel-flood")]
    private static int Flood(string[] args)
    {
        var seconds = double.Parse(args[4], CultureInfo.InvariantCulture);
        var everyN = int.Parse(args[5], CultureInfo.InvariantCulture);
        using var partition = Attach(args);
        using var channel = Connect(partition, args);
        Console.WriteLine("connected");
        var window = channel.Endpoint.Window;
        var victim = 1 - channel.Endpoint.Side;
        var page = window.GetInterruptPage(victim);
        var vector = window.GetVector(victim);
        var buffer = new byte[4096];
        var deadline = System.Diagnostics.Stopwatch.GetTimestamp() + (long)(seconds * System.Diagnostics.Stopwatch.Frequency);
        long wakes = 0, sequence = 0;
        while (System.Diagnostics.Stopwatch.GetTimestamp() < deadline)
        {
            page.RaiseAlways((vector + (int)wakes) & (page.VectorCount - 1));
            page.WakeAlways();
            wakes++;
            if (wakes % everyN == 0)
            {
                var length = SoakPattern.Fill(buffer, 7, sequence, 4096);
                if (channel.TrySend(buffer.AsSpan(0, length)))
                {
                    sequence++;
                }
            }
        }
        var end = SoakPattern.FillEnd(buffer, sequence);
        channel.Send(buffer.AsSpan(0, end));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"flooded {wakes} {sequence}"));
        Console.In.ReadToEnd();
        return 0;
    }

    /// <summary>
    /// Connects, then tries to resize the granted window (ftruncate to half and to double) and prints
    /// "shrink ERRNO grow ERRNO" (or "resized" if the kernel allowed either).
    /// </summary>
    [Scenario("rel-resize")]
    private static int Resize(string[] args)
    {
        using var partition = Attach(args);
        using var channel = Connect(partition, args);
        Console.WriteLine("connected");
        var window = channel.Endpoint.Window;
        Console.WriteLine($"shrink {TryResize(window.File, window.Size / 2)} grow {TryResize(window.File, window.Size * 2)}");
        return 0;
    }

    private static string TryResize(FileDescriptor file, long size)
    {
        try
        {
            MemoryFile.SetSize(file, size);
            return "resized";
        }
        catch (NativeException e)
        {
            return e.ErrnoName;
        }
    }

    private static Partition Attach(string[] args) => Partition.Attach(args[0], "rel-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture), args[1]);

    private static IicChannel Connect(Partition partition, string[] args)
        => IicChannel.Connect(partition, args[2], new ChannelOptions { RingCapacity = int.Parse(args[3], CultureInfo.InvariantCulture) }, TimeSpan.FromSeconds(20));
}

using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using IIC.Transport;

namespace IIC.TestHost;

/// <summary>
/// Numbered messages from several sending threads, checked by several receiving threads: nothing lost, nothing
/// duplicated, nothing corrupt, and each sender's messages in order as any one receiver sees them (a receiver takes
/// messages in ring order, and each sender's messages enter the ring in its order). Used by the parent test and the
/// child scenario alike.
/// <para>Message: [sender:int32][sequence:int64][fill], the fill byte derived from both; every 50th message is larger
/// than one record (fragmented), so the senders' turns also cover fragmented sends.</para>
/// </summary>
public sealed class SequencedTraffic
{
    private const int HeaderLength = 12;
    private readonly int[] _seen;
    private long _received;
    private string? _problem;

    /// <summary>Checks traffic from <paramref name="senders"/> senders (numbered from <paramref name="firstSender"/>) of <paramref name="perSender"/> messages each.</summary>
    public SequencedTraffic(int senders, long perSender, int firstSender = 0)
    {
        Senders = senders;
        FirstSender = firstSender;
        PerSender = perSender;
        _seen = new int[checked((int)(senders * perSender))];
    }

    /// <summary>The first sender's number.</summary>
    public int FirstSender { get; }

    /// <summary>The number of senders.</summary>
    public int Senders { get; }

    /// <summary>Messages per sender.</summary>
    public long PerSender { get; }

    /// <summary>Messages expected in all.</summary>
    public long Total => Senders * PerSender;

    /// <summary>Messages received and checked so far.</summary>
    public long Received => Volatile.Read(ref _received);

    /// <summary>The first problem found, or null.</summary>
    public string? Problem => Volatile.Read(ref _problem);

    /// <summary>The length of message <paramref name="sequence"/> on a channel whose records carry up to <paramref name="maxClaim"/> bytes.</summary>
    public static int LengthOf(long sequence, int maxClaim)
        => sequence % 50 == 49 ? (3 * maxClaim) + 17 : HeaderLength + (int)(sequence * 7919 % 200);

    /// <summary>Sends sender <paramref name="sender"/>'s messages in order (blocking sends).</summary>
    public static void Send(IicChannel channel, int sender, long count)
    {
        var buffer = new byte[LengthOf(49, channel.MaxClaimLength)];
        for (long sequence = 0; sequence < count; sequence++)
        {
            var length = LengthOf(sequence, channel.MaxClaimLength);
            var message = buffer.AsSpan(0, length);
            BinaryPrimitives.WriteInt32LittleEndian(message, sender);
            BinaryPrimitives.WriteInt64LittleEndian(message[4..], sequence);
            message[HeaderLength..].Fill(Fill(sender, sequence));
            channel.Send(message);
        }
    }

    /// <summary>Receives and checks messages on this thread until all arrived, a problem was found, or <paramref name="bound"/> passed.</summary>
    public void Receive(IicChannel channel, TimeSpan bound)
    {
        var buffer = new byte[LengthOf(49, channel.MaxClaimLength)];
        var last = new long[Senders];
        Array.Fill(last, -1);
        var started = Stopwatch.GetTimestamp();
        while (Received < Total && Problem is null)
        {
            if (!channel.TryReceive(buffer, out var length, TimeSpan.FromMilliseconds(20)))
            {
                if (Stopwatch.GetElapsedTime(started) > bound)
                {
                    Report(string.Create(CultureInfo.InvariantCulture, $"only {Received} of {Total} messages arrived within {bound.TotalSeconds} s"));
                }
                continue;
            }
            Check(buffer.AsSpan(0, length), last, channel.MaxClaimLength);
        }
    }

    private void Check(ReadOnlySpan<byte> message, long[] last, int maxClaim)
    {
        if (message.Length < HeaderLength)
        {
            Report($"a {message.Length}-byte message is shorter than its header");
            return;
        }
        var number = BinaryPrimitives.ReadInt32LittleEndian(message);
        var sender = number - FirstSender;
        var sequence = BinaryPrimitives.ReadInt64LittleEndian(message[4..]);
        if ((uint)sender >= (uint)Senders || (ulong)sequence >= (ulong)PerSender)
        {
            Report(string.Create(CultureInfo.InvariantCulture, $"a message names sender {sender}, sequence {sequence}: out of range (corrupt)"));
            return;
        }
        if (sequence <= last[sender])
        {
            Report(string.Create(CultureInfo.InvariantCulture, $"sender {sender}: message {sequence} arrived after {last[sender]} (reordered or duplicated)"));
            return;
        }
        last[sender] = sequence;
        if (message.Length != LengthOf(sequence, maxClaim) || message[HeaderLength..].IndexOfAnyExcept(Fill(number, sequence)) >= 0)
        {
            Report(string.Create(CultureInfo.InvariantCulture, $"sender {sender}: message {sequence} is corrupt ({message.Length} bytes, expected {LengthOf(sequence, maxClaim)})"));
            return;
        }
        if (Interlocked.Exchange(ref _seen[(sender * PerSender) + sequence], 1) != 0)
        {
            Report(string.Create(CultureInfo.InvariantCulture, $"sender {sender}: message {sequence} was delivered twice"));
            return;
        }
        Interlocked.Increment(ref _received);
    }

    /// <summary>An order-sensitive checksum (FNV-1a, 64 bit), as text.</summary>
    public static string Checksum(ReadOnlySpan<byte> data)
    {
        var hash = 14695981039346656037UL;
        foreach (var b in data)
        {
            hash = (hash ^ b) * 1099511628211UL;
        }
        return hash.ToString("x16", CultureInfo.InvariantCulture);
    }

    private void Report(string problem) => Interlocked.CompareExchange(ref _problem, problem, null);

    private static byte Fill(int sender, long sequence) => (byte)((sender * 31) + sequence);

    /// <summary>Runs <paramref name="senders"/> sending and <paramref name="receivers"/> receiving threads on one channel; returns the receive-side checker.</summary>
    public static (SequencedTraffic Incoming, Exception? SendError) RunBothWays(IicChannel channel, int senders, int receivers, long perSender, int senderIdBase, SequencedTraffic incoming, TimeSpan bound)
    {
        Exception? sendError = null;
        var threads = new List<Thread>();
        for (var i = 0; i < senders; i++)
        {
            var id = senderIdBase + i;
            threads.Add(new Thread(() =>
            {
                try
                {
                    Send(channel, id, perSender);
                }
                catch (Exception e)
                {
                    Interlocked.CompareExchange(ref sendError, e, null);
                }
            }) { IsBackground = true, Name = "sender " + id });
        }
        for (var i = 0; i < receivers; i++)
        {
            threads.Add(new Thread(() => incoming.Receive(channel, bound)) { IsBackground = true, Name = "receiver" });
        }
        threads.ForEach(t => t.Start());
        foreach (var thread in threads)
        {
            if (!thread.Join(bound + bound))
            {
                return (incoming, new TimeoutException($"thread '{thread.Name}' did not finish"));
            }
        }
        return (incoming, sendError);
    }
}

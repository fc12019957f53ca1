using IIC.Hardware;
using IIC.Tests;

namespace IIC.Transport.Tests;

/// <summary>
/// The harness of the fast-path tests (send, claim, receive), which each vary one end of the same traffic: patterned
/// messages from the test thread to a receiver thread, every length and byte checked in order.
/// </summary>
internal static class PatternedTraffic
{
    /// <summary>Receives the next message into <paramref name="buffer"/>; false if none arrived in time.</summary>
    public delegate bool ReceiveOne(byte[] buffer, out int length);

    private static readonly Lock s_writerCleansSwitch = new();

    /// <summary>A connected pair, made with the writer-cleans switch (IIC_WRITER_CLEANS's writer) set as asked.</summary>
    /// <remarks>
    /// The switch is process-wide and the fast-path test classes that call this run in parallel collections: unlocked,
    /// two calls asking opposite values interleave (A sets true, B saves true and sets false, A restores false, B
    /// restores true), one pair gets the writer the other asked for, and the switch stays on for every channel the
    /// process makes afterwards (a cleaning writer keeps one line less of its ring usable). Serialised, each pair gets
    /// the writer it asked for and the switch always returns to its value; a pair another test makes meanwhile may get
    /// either writer, both of which deliver the same bytes.
    /// </remarks>
    public static (IicChannel First, IicChannel Second) CreatePair(ChannelOptions options, bool writerCleans)
    {
        lock (s_writerCleansSwitch)
        {
            var previous = DescriptorRing.WriterCleansEnabled;
            DescriptorRing.WriterCleansEnabled = writerCleans;
            try
            {
                return IicChannel.CreatePair(options);
            }
            finally
            {
                DescriptorRing.WriterCleansEnabled = previous;
            }
        }
    }

    /// <summary>Mostly small (a sender's fast path), every 7th message 0.3-1.5 KiB: on a 4 KiB ring, wraps, full rings and fragments.</summary>
    public static int MixedLength(int i) => i % 7 == 0 ? 300 + (i * 37 % 1237) : 1 + (i * 13 % 120);

    /// <summary>A sender for <see cref="Run"/>: message i of <see cref="MixedLength"/> bytes, patterned, by <c>TrySend</c> within <paramref name="bound"/>.</summary>
    public static Action<int> MixedSender(IicChannel channel, TimeSpan bound)
    {
        var message = new byte[1536];
        return i =>
        {
            var span = message.AsSpan(0, MixedLength(i));
            PatternedMessage.Fill(span, i);
            Assert.True(channel.TrySend(span, bound), $"send {i} timed out");
        };
    }

    /// <summary>
    /// Sends <paramref name="messages"/> messages with <paramref name="send"/> (given the index; it fills the message with
    /// <see cref="PatternedMessage.Fill"/> and the length <paramref name="lengthOf"/> gives) while a receiver thread takes
    /// them with <paramref name="receive"/> and checks each. Fails the test if the receiver does not finish in time.
    /// </summary>
    /// <param name="pauseNowAndThen">The receiver sleeps 1 ms every 97 messages: load shaping, not synchronisation, so
    /// the sender fills the ring and a parking receiver parks now and then.</param>
    /// <returns>The receiver's first failure, or null.</returns>
    public static string? Run(int messages, Func<int, int> lengthOf, Action<int> send, ReceiveOne receive, bool pauseNowAndThen, TimeSpan bound)
    {
        string? failure = null;
        var receiver = new Thread(() =>
        {
            try
            {
                var buffer = new byte[2048];
                for (var i = 0; i < messages && failure is null; i++)
                {
                    if (!receive(buffer, out var length))
                    {
                        failure = $"message {i} did not arrive";
                        break;
                    }
                    failure = length != lengthOf(i) ? $"message {i}: {length} bytes, sent {lengthOf(i)}"
                        : length == 0 ? null : PatternedMessage.Check(buffer.AsSpan(0, length), i);
                    if (pauseNowAndThen && i % 97 == 0)
                    {
                        Thread.Sleep(1); // load shaping (see pauseNowAndThen): the checks above do not depend on it
                    }
                }
            }
            catch (Exception e)
            {
                failure = e.ToString();
            }
        });
        receiver.Start();
        for (var i = 0; i < messages && Volatile.Read(ref failure) is null; i++)
        {
            send(i);
        }
        Assert.True(receiver.Join(bound * 3), "the receiver did not finish");
        return failure;
    }
}

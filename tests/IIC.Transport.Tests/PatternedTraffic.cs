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

    /// <summary>A connected pair, made with the writer-cleans switch (IIC_WRITER_CLEANS's writer) set as asked.</summary>
    public static (IicChannel First, IicChannel Second) CreatePair(ChannelOptions options, bool writerCleans)
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
                        Thread.Sleep(1);
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

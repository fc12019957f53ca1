using System.Buffers.Binary;
using IIC.Hardware;
using IIC.TestHost;
using IIC.Tests;

namespace IIC.Transport.Tests;

/// <summary>
/// Issue 17 (round 7, branch hop): the per-message statistics of each direction sit on a line pair of their own (no
/// false sharing between a sending and a receiving thread, nor with the words both read on every call), and moving them
/// there kept every count exact when each side of a pair is sent on and received on by separate threads at once.
/// </summary>
public sealed class HotPathLayoutTests
{
    private static readonly TimeSpan s_bound = PartitionHost.Timeout;

    [Fact]
    public void Send_and_receive_counters_each_sit_on_a_line_pair_of_their_own()
    {
        var (a, b) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = 4096 });
        using (a)
        using (b)
        {
            foreach (var endpoint in new[] { a.Endpoint, b.Endpoint })
            {
                var (sentToReceived, disposedToSent, disposedToReceived) = endpoint.HotFieldDistances();
                Assert.True(sentToReceived >= Smp.PaddedLineSize, $"send and receive counters {sentToReceived} B apart");
                Assert.True(disposedToSent >= Smp.PaddedLineSize, $"_disposed and the send counters {disposedToSent} B apart");
                Assert.True(disposedToReceived >= Smp.PaddedLineSize, $"_disposed and the receive counters {disposedToReceived} B apart");
            }
        }
    }

    [Fact]
    public void Counts_stay_exact_with_a_sending_and_a_receiving_thread_on_each_side()
    {
        const int Messages = 5000;
        var (a, b) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = 4096, SingleWriter = true, SingleReader = true });
        using (a)
        using (b)
        {
            var expectedBytes = 0L;
            for (var i = 0; i < Messages; i++)
            {
                expectedBytes += Length(i);
            }
            var errors = new List<string>();
            var threads = new[]
            {
                new Thread(() => Guard(errors, () => SendAll(a))),
                new Thread(() => Guard(errors, () => SendAll(b))),
                new Thread(() => Guard(errors, () => ReceiveAll(a))),
                new Thread(() => Guard(errors, () => ReceiveAll(b))),
            };
            foreach (var thread in threads)
            {
                thread.Start();
            }
            foreach (var thread in threads)
            {
                Assert.True(thread.Join(s_bound * 3), "a sender or receiver did not finish");
            }
            Assert.Empty(errors);
            foreach (var channel in new[] { a, b })
            {
                var statistics = channel.GetStatistics();
                Assert.Equal(Messages, statistics.MessagesSent);
                Assert.Equal(expectedBytes, statistics.BytesSent);
                Assert.Equal(Messages, statistics.MessagesReceived);
                Assert.Equal(expectedBytes, statistics.BytesReceived);
            }
        }

        static int Length(int i) => 4 + (i % 29); // 4 to 32 bytes

        static void SendAll(IicChannel channel)
        {
            var message = new byte[32];
            for (var i = 0; i < Messages; i++)
            {
                var length = Length(i);
                if (i % 2 == 0)
                {
                    BinaryPrimitives.WriteInt32LittleEndian(message, i);
                    Assert.True(channel.TrySend(message.AsSpan(0, length), s_bound), $"send {i} timed out");
                    continue;
                }
                // Odd messages through a claim (counted at Commit with the claimed length).
                ChannelClaim claim;
                var waited = System.Diagnostics.Stopwatch.StartNew();
                while (!channel.TryClaim(length, out claim))
                {
                    Assert.True(waited.Elapsed < s_bound, $"claim {i} found no room in time");
                    Thread.Yield();
                }
                BinaryPrimitives.WriteInt32LittleEndian(claim.Span, i);
                claim.Commit();
            }
        }

        static void ReceiveAll(IicChannel channel)
        {
            var buffer = new byte[64];
            for (var i = 0; i < Messages; i++)
            {
                Assert.True(channel.TryReceive(buffer, out var length, s_bound), $"message {i} did not arrive");
                Assert.Equal(Length(i), length);
                Assert.Equal(i, BinaryPrimitives.ReadInt32LittleEndian(buffer));
            }
        }
    }

    private static void Guard(List<string> errors, Action action)
    {
        try
        {
            action();
        }
        catch (Exception e)
        {
            lock (errors)
            {
                errors.Add(e.ToString());
            }
        }
    }
}

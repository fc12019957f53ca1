using System.Buffers.Binary;
using System.Diagnostics;
using static IIC.Transport.Tests.GateTestMessages;

namespace IIC.Transport.Tests;

/// <summary>
/// Issue 17 (round 6): default channels (several threads may take turns) are biased to their first thread too, so a
/// channel used from one thread enters its roles without a locked instruction (docs/architecture.md, "Round 6"). What
/// must still hold: a second thread takes its turn (waits, never refused) and never writes into the ring or reads from
/// it while the owner is inside; after it the bias is revoked for good.
/// </summary>
public sealed class BiasedDefaultGateTests
{
    [Fact]
    public void A_default_channel_is_biased_to_its_first_thread_until_another_thread_enters()
    {
        var (a, b) = IicChannel.CreatePair();
        using (a)
        using (b)
        {
            var buffer = new byte[64];
            a.Send(new byte[8]);
            Assert.True(b.TryReceive(buffer, out _));
            Assert.True(a.RolesBiasedToCurrentThread.Send, "the first sender owns the send role");
            Assert.True(b.RolesBiasedToCurrentThread.Receive, "the first receiver owns the receive role");
            var other = new Thread(() =>
            {
                a.Send(new byte[8]);
                Assert.True(b.TryReceive(buffer, out _, TimeSpan.FromSeconds(10)));
            });
            other.Start();
            other.Join();
            Assert.False(a.RolesBiasedToCurrentThread.Send, "another thread's send revokes the bias");
            Assert.False(b.RolesBiasedToCurrentThread.Receive, "another thread's receive revokes the bias");
            a.Send(new byte[8]); // and the owner goes on through the compare-exchange
            Assert.True(b.TryReceive(buffer, out _));
        }
    }

    [Fact]
    public void A_second_sender_racing_the_biased_owner_takes_its_turn_and_no_message_is_torn()
    {
        // The bias is revoked once per channel, so the race between the owner's plain entry and the revoker is run on
        // many fresh channels: the other thread sends once, at a different moment of the owner's burst each round.
        const int burst = 200;
        var stop = Stopwatch.GetTimestamp() + 15 * Stopwatch.Frequency;
        var rounds = 0;
        var buffer = new byte[64];
        for (; rounds < 200 && Stopwatch.GetTimestamp() < stop; rounds++)
        {
            var (a, b) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = 64 * 1024 });
            using (a)
            using (b)
            {
                a.Send(Message(1, 0)); // this thread becomes the owner
                Exception? failure = null;
                var delay = rounds * 37 % 2000;
                var intruder = new Thread(() =>
                {
                    Thread.SpinWait(delay);
                    try
                    {
                        a.Send(Message(2, rounds)); // a default channel: waits for its turn, never refused
                    }
                    catch (Exception e)
                    {
                        failure = e;
                    }
                });
                intruder.Start();
                for (var i = 1; i <= burst; i++)
                {
                    a.Send(Message(1, i));
                }
                intruder.Join();
                Assert.Null(failure);
                var (owner, received) = DrainAndCheck(b, buffer, intruderSequence: rounds);
                Assert.Equal(burst + 1, owner);
                Assert.Equal(burst + 2, received);
            }
        }
        Assert.True(rounds >= 10, $"only {rounds} rounds ran");
    }

    [Fact]
    public void Two_receivers_taking_turns_with_the_biased_owner_get_every_message_once()
    {
        const int count = 20_000;
        var (a, b) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = 16 * 1024 });
        using (a)
        using (b)
        {
            var seen = new int[count];
            var received = 0;
            void Receive()
            {
                var buffer = new byte[8];
                var deadline = Stopwatch.GetTimestamp() + 60 * Stopwatch.Frequency;
                while (Volatile.Read(ref received) < count && Stopwatch.GetTimestamp() < deadline)
                {
                    if (b.TryReceive(buffer, out var length, TimeSpan.FromMilliseconds(5)))
                    {
                        Assert.Equal(4, length);
                        Interlocked.Increment(ref seen[BinaryPrimitives.ReadInt32LittleEndian(buffer)]);
                        Interlocked.Increment(ref received);
                    }
                }
            }
            var first = new Thread(Receive);
            var second = new Thread(Receive);
            first.Start();
            second.Start();
            var message = new byte[4];
            for (var i = 0; i < count; i++)
            {
                BinaryPrimitives.WriteInt32LittleEndian(message, i);
                a.Send(message);
            }
            first.Join();
            second.Join();
            Assert.Equal(count, received);
            Assert.All(seen, n => Assert.Equal(1, n));
        }
    }
}

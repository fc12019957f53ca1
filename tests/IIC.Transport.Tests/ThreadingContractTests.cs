using System.Diagnostics;
using System.Globalization;
using IIC.Hardware;
using IIC.TestHost;
using IIC.Tests;

namespace IIC.Transport.Tests;

/// <summary>
/// Issue 13, point 1: channels are safe for concurrent senders and receivers by default (System.Threading.Channels'
/// convention), SingleWriter/SingleReader misuse is refused with an InvalidOperationException, and Dispose racing
/// blocked calls never crashes.
/// </summary>
public class ThreadingContractTests
{
    private static readonly TimeSpan s_bound = PartitionHost.Timeout;

    [Fact]
    public async Task Four_threads_send_and_four_receive_on_one_channel_each_way_across_processes_nothing_lost_duplicated_or_reordered()
    {
        const int Threads = 4;
        const long PerThread = 1500;
        using var host = PartitionHost.Start();
        var (child, channel) = await host.StartChildAsync("contract-many-threads", 64 * 1024,
            Threads.ToString(CultureInfo.InvariantCulture), PerThread.ToString(CultureInfo.InvariantCulture));
        using (child)
        using (channel)
        {
            // The child numbers its senders from Threads; ours are 0..Threads-1.
            var incoming = new SequencedTraffic(Threads, PerThread, firstSender: Threads);
            var (_, sendError) = await Task.Run(() => SequencedTraffic.RunBothWays(channel, Threads, Threads, PerThread, 0, incoming, s_bound * 3));
            Assert.Null(sendError);
            Assert.Null(incoming.Problem);
            Assert.Equal(Threads * PerThread, incoming.Received);
            Assert.Equal(string.Create(CultureInfo.InvariantCulture, $"ok {Threads * PerThread}"), child.ReadLine(s_bound * 3));
            child.WriteLine("exit");
            child.AssertExit(0);
        }
    }

    [Fact]
    public void A_second_sender_on_a_SingleWriter_channel_is_refused_and_on_a_default_channel_takes_its_turn()
    {
        var (a, b) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = 64 * 1024, SingleWriter = true, SingleReader = true });
        using (a)
        using (b)
        {
            Assert.True(a.TryClaim(8, out var claim)); // the claim holds the send side
            var misuse = RunOnOtherThread(() => a.Send("x"u8));
            var e = Assert.IsType<InvalidOperationException>(misuse);
            Assert.Contains("SingleWriter", e.Message, StringComparison.Ordinal);
            Assert.IsType<InvalidOperationException>(RunOnOtherThread(() => a.TryClaim(4, out _)));
            // The same thread sending with its claim open is told to finish the claim first.
            var reentry = Assert.Throws<InvalidOperationException>(() => a.Send("y"u8));
            Assert.Contains("ChannelClaim", reentry.Message, StringComparison.Ordinal);
            "claimed!"u8.CopyTo(claim.Span);
            claim.Commit();
            a.Send("after"u8);
            var buffer = new byte[16];
            Assert.Equal("claimed!", System.Text.Encoding.ASCII.GetString(buffer, 0, b.Receive(buffer)));
            Assert.Equal("after", System.Text.Encoding.ASCII.GetString(buffer, 0, b.Receive(buffer)));
            Assert.False(b.TryReceive(buffer, out _)); // nothing corrupt or extra was delivered
        }

        (a, b) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = 64 * 1024 });
        using (a)
        using (b)
        {
            Assert.True(a.TryClaim(8, out var claim));
            var waiting = new Thread(() => a.Send("second"u8)) { IsBackground = true };
            waiting.Start();
            Assert.False(waiting.Join(TimeSpan.FromMilliseconds(50)), "a default channel's second sender must wait for the open claim");
            "first..."u8.CopyTo(claim.Span);
            claim.Commit();
            Assert.True(waiting.Join(s_bound));
            var buffer = new byte[16];
            Assert.Equal("first...", System.Text.Encoding.ASCII.GetString(buffer, 0, b.Receive(buffer)));
            Assert.Equal("second", System.Text.Encoding.ASCII.GetString(buffer, 0, b.Receive(buffer)));
        }
    }

    [Fact]
    public void A_second_receiver_on_a_SingleReader_channel_is_refused_and_a_Poll_handler_cannot_receive_from_its_channel()
    {
        var (a, b) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = 64 * 1024, SingleReader = true });
        using (a)
        using (b)
        {
            a.Send("one"u8);
            a.Send("two"u8);
            Exception? misuse = null;
            Exception? reentry = null;
            var handled = b.Poll((message, channel) =>
            {
                // The handler runs while this thread holds the receive side.
                misuse = RunOnOtherThread(() => channel.TryReceive(new byte[16], out _));
                reentry = Record.Exception(() => channel.TryReceive(new byte[16], out _));
            }, b, limit: 1);
            Assert.Equal(1, handled);
            Assert.Contains("SingleReader", Assert.IsType<InvalidOperationException>(misuse).Message, StringComparison.Ordinal);
            Assert.Contains("Poll handler", Assert.IsType<InvalidOperationException>(reentry).Message, StringComparison.Ordinal);
            var buffer = new byte[16];
            Assert.Equal("two", System.Text.Encoding.ASCII.GetString(buffer, 0, b.Receive(buffer))); // "one" was handled once
            Assert.False(b.TryReceive(buffer, out _));
        }
    }

    [Fact]
    public void Dispose_racing_blocked_senders_and_receivers_ends_them_with_documented_exceptions_for_thousands_of_rounds()
    {
        const int Rounds = 2000;
        var budget = TimeSpan.FromSeconds(20); // bounded on a loaded box; at least 200 rounds are required
        var random = new Random(13);
        var started = Stopwatch.GetTimestamp();
        var unexpected = new List<string>();
        var rounds = 0;
        var message = new byte[3000]; // larger than a record of the 4 KiB ring: fragmented sends too
        while (rounds < Rounds && (rounds < 200 || Stopwatch.GetElapsedTime(started) < budget))
        {
            var (a, b) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = 4096 });
            var workers = new Thread[5];
            var ready = new CountdownEvent(workers.Length);
            for (var i = 0; i < workers.Length; i++)
            {
                var role = i;
                workers[i] = new Thread(() =>
                {
                    ready.Signal();
                    try
                    {
                        var buffer = new byte[4096];
                        while (true)
                        {
                            switch (role)
                            {
                                case 0: a.Send(message); break; // two concurrent senders, one fragmenting
                                case 1: a.Send(message.AsSpan(0, 100)); break;
                                case 2: a.Receive(buffer); break; // b never sends: parked until Dispose
                                case 3: b.Receive(buffer); break; // two concurrent receivers of a's messages
                                default: b.TryReceive(buffer, out _, TimeSpan.FromMilliseconds(1)); break;
                            }
                        }
                    }
                    catch (Exception e) when (e is ObjectDisposedException or IicChannelClosedException)
                    {
                        // the documented ends: this side was disposed, or the peer closed
                    }
                    catch (Exception e)
                    {
                        lock (unexpected)
                        {
                            unexpected.Add(e.ToString());
                        }
                    }
                }) { IsBackground = true };
                workers[i].Start();
            }
            ready.Wait(s_bound);
            Thread.SpinWait(random.Next(0, 20_000)); // dispose at a random point: mid-send, mid-fragment, parked
            if (random.Next(2) == 0)
            {
                a.Dispose();
                b.Dispose();
            }
            else
            {
                b.Dispose();
                a.Dispose();
            }
            foreach (var worker in workers)
            {
                Assert.True(worker.Join(s_bound), $"round {rounds}: a call blocked on a disposed channel did not end");
            }
            rounds++;
        }
        Assert.True(unexpected.Count == 0, $"{unexpected.Count} undocumented exceptions; the first: {unexpected.FirstOrDefault()}");
        Assert.True(rounds >= 200, $"only {rounds} rounds");
    }

    [Fact]
    public void Without_a_reader_a_fragmented_send_that_is_cancelled_part_way_is_abandoned_and_the_next_message_arrives_intact()
    {
        var (a, b) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = 64 * 1024 });
        using (a)
        using (b)
        {
            var big = new byte[1 << 20];
            new Random(1).NextBytes(big);
            using (var cancellation = new CancellationTokenSource(TimeSpan.FromMilliseconds(100)))
            {
                Assert.ThrowsAny<OperationCanceledException>(() => a.Send(big, cancellation.Token)); // part-way: fragments are in the ring
            }
            Assert.Equal(1, a.Endpoint.AbandonedSends);
            Assert.False(a.TrySend(big, TimeSpan.FromMilliseconds(50))); // still full: it cannot even begin (nothing written)
            Assert.Equal(1, a.Endpoint.AbandonedSends);
            var buffer = new byte[big.Length];
            Assert.False(b.TryReceive(buffer, out _)); // takes the abandoned fragments and discards them: nothing delivered
            Assert.Equal(1, b.Endpoint.AbandonedReceives);
            a.Send("next"u8);
            Assert.Equal("next", System.Text.Encoding.ASCII.GetString(buffer, 0, b.Receive(buffer)));
            var sender = new Thread(() => a.Send(big)) { IsBackground = true };
            sender.Start();
            var length = b.Receive(buffer);
            Assert.True(sender.Join(s_bound));
            Assert.Equal(big.Length, length);
            Assert.True(big.AsSpan().SequenceEqual(buffer.AsSpan(0, length)), "the whole message after an abandoned one arrives intact");
        }
    }

    internal static Exception? RunOnOtherThread(Action action)
    {
        Exception? error = null;
        var thread = new Thread(() =>
        {
            try
            {
                action();
            }
            catch (Exception e)
            {
                error = e;
            }
        }) { IsBackground = true };
        thread.Start();
        Assert.True(thread.Join(s_bound), "the call on the other thread did not return");
        return error;
    }
}

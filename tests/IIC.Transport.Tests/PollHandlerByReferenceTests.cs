using IIC.Hardware;

namespace IIC.Transport.Tests;

/// <summary>
/// Issue 17 (round 14): the main job's harness now hands its consumer to <see cref="IicChannel.Poll{THandler}(ref THandler, int, TimeSpan)"/>
/// through a ref struct holding a reference to it (perf/IIC.Perf IicEndpoint, no copy in and out per poll), and its echo
/// claims the reply from inside the handler. What that relies on: the channel calls the caller's handler itself (what
/// the handler changes is the caller's after the call, on the fast path, the waiting path and the non-waiting poll), a
/// ref struct handler with a ref field is accepted, and a handler may claim, write and commit on the same channel.
/// </summary>
public sealed class PollHandlerByReferenceTests
{
    private static readonly TimeSpan s_wait = TimeSpan.FromSeconds(10);

    [Fact]
    public void What_the_handler_changes_is_the_callers_on_every_poll_path()
    {
        var (a, b) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = 4096, WaitStrategy = WaitStrategy.BusySpin });
        using (a)
        using (b)
        {
            var state = new Tally();
            var handler = new TallyByReference(ref state);
            // A message already waiting: the fast path.
            a.Send([1, 2, 3]);
            Assert.Equal(1, b.Poll(ref handler, 1, s_wait));
            Assert.Equal(1, state.Messages);
            Assert.Equal(3, state.Bytes);
            // Several at once, up to the limit.
            a.Send([4]);
            a.Send([5, 6]);
            Assert.Equal(2, b.Poll(ref handler, 8, s_wait));
            Assert.Equal(3, state.Messages);
            Assert.Equal(6, state.Bytes);
            Assert.Equal(6, state.Last);
            // The non-waiting poll.
            a.Send([7]);
            Assert.Equal(1, b.Poll(ref handler, 1));
            Assert.Equal(4, state.Messages);
            // Nothing there: the waiting path runs out and the handler is not called.
            Assert.Equal(0, b.Poll(ref handler, 1, TimeSpan.FromMilliseconds(5)));
            Assert.Equal(4, state.Messages);
            // Sent by another thread while (or before) the poll waits.
            var sender = new Thread(() => a.Send([8, 9]));
            sender.Start();
            Assert.Equal(1, b.Poll(ref handler, 1, s_wait));
            Assert.True(sender.Join(s_wait));
            Assert.Equal(5, state.Messages);
            Assert.Equal(9, state.Last);
            // A struct handler passed by reference: the same.
            var plain = new Tally();
            a.Send([10]);
            Assert.Equal(1, b.Poll(ref plain, 1, s_wait));
            Assert.Equal(1, plain.Messages);
            Assert.Equal(10, plain.Last);
        }
    }

    [Fact]
    public void A_handler_that_claims_and_commits_a_reply_echoes_every_message()
    {
        const int Messages = 5000;
        var (client, server) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = 4096, WaitStrategy = WaitStrategy.BusySpin });
        using (client)
        using (server)
        {
            var echoed = 0;
            var echo = new Thread(() =>
            {
                var state = new EchoState { Channel = server };
                var handler = new EchoByReference(ref state);
                while (state.Echoed < Messages)
                {
                    _ = server.Poll(ref handler, 1, s_wait);
                }
                echoed = state.Echoed;
            });
            echo.Start();
            var reply = new byte[64];
            for (var i = 0; i < Messages; i++)
            {
                Assert.True(client.TryClaim(32, out var claim));
                BitConverter.TryWriteBytes(claim.Span, (long)i);
                claim.Commit();
                Assert.True(client.TryReceive(reply, out var length, s_wait));
                Assert.Equal(32, length);
                Assert.Equal(i, BitConverter.ToInt64(reply));
            }
            Assert.True(echo.Join(s_wait));
            Assert.Equal(Messages, echoed);
        }
    }

    private struct Tally : IMessageHandler
    {
        public int Messages;
        public int Bytes;
        public int Last;

        public void OnMessage(ReadOnlySpan<byte> message)
        {
            Messages++;
            Bytes += message.Length;
            Last = message[^1];
        }
    }

    private readonly ref struct TallyByReference(ref Tally tally) : IMessageHandler
    {
        private readonly ref Tally _tally = ref tally;

        public void OnMessage(ReadOnlySpan<byte> message) => _tally.OnMessage(message);
    }

    private struct EchoState
    {
        public IicChannel Channel;
        public int Echoed;

        public void OnMessage(ReadOnlySpan<byte> message)
        {
            // The reply claimed first, then the request read and copied into it (the harness's echo order). One message in
            // flight: the claim finds room (no assert here: this runs on the echo thread; the client checks every reply).
            ChannelClaim claim;
            while (!Channel.TryClaim(message.Length, out claim))
            {
            }
            message.CopyTo(claim.Span);
            claim.Commit();
            Echoed++;
        }
    }

    private readonly ref struct EchoByReference(ref EchoState state) : IMessageHandler
    {
        private readonly ref EchoState _state = ref state;

        public void OnMessage(ReadOnlySpan<byte> message) => _state.OnMessage(message);
    }
}

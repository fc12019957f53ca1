using IIC.Grpc.Client;
using IIC.Grpc.Protocol;
using IIC.Grpc.Testing;
using IIC.Tests;

namespace IIC.Grpc.Tests;

/// <summary>
/// A client connection's tries to send a frame its owner may take back (a call's CallStart) claim the send only holding
/// room for it (round 24, docs/grpc-call-protocol.md 1): a try that cannot go leaves the owner unasked, so the connection's
/// end can still take the call back until its CallStart is queued, and an owner taken back is not queued. Before, the start
/// claimed before its try, and an end between that claim and the queueing after a failed try ended the call Unavailable
/// though nothing of it was sent. On a real connection of an invoker to a <see cref="RawServer"/> in this process, with a
/// <see cref="Probe"/> as the owner.
/// </summary>
[Collection(TesterGroup.Name)]
public sealed class ClaimHoldingRoomTests(TesterFixture fixture)
{
    private static readonly TimeSpan s_timeout = RetryServing.Timeout;

    /// <summary>
    /// With room: an owner that says yes is sent, one that says no (taken back) is not, and the room it was asked holding
    /// carries nothing (the server's next CallStart is the one sent after). With the ring full behind a stuck write: the
    /// try does not go and does not ask the owner; an owner taken back then is not queued (its task fails at once, the
    /// queue as it was); one that is not taken back is queued, and when the server closes the channel it fails unsent,
    /// never asked by the sender.
    /// </summary>
    [Fact]
    public async Task A_try_asks_its_owner_only_holding_room_and_an_owner_taken_back_is_not_queued()
    {
        const string Service = "retry-claim-holding-room";
        using var server = new RawServer(fixture, Service, settingsOnAccept: 4);
        using var invoker = RetryServing.Invoker(fixture, Service);
        var client = new Tester.TesterClient(invoker);
        await RetryServing.WarmAsync(server, client);
        var connection = invoker.ConnectionAt(0)!;

        var refused = new Probe { Refuse = true };
        Assert.Equal(ClaimedTry.TakenBack, connection.TrySendFrameNowClaimed(Frame(901, "taken back"), refused));
        Assert.Equal(1, refused.Asked);
        var accepted = new Probe();
        Assert.Equal(ClaimedTry.Sent, connection.TrySendFrameNowClaimed(Frame(903, "sent"), accepted));
        Assert.Equal(1, accepted.Asked);
        var (streamId, request) = server.ReceiveCallStart(0, s_timeout);
        Assert.Equal((903u, "sent"), (streamId, request!.Text)); // the aborted room reached the server as nothing

        using var stuck = client.ClientStream(deadline: RetryServing.Deadline);
        var write = StuckWrite.StartQueued(invoker, stuck.RequestStream, s_timeout);
        Assert.False(write.IsCompleted, "the large write went whole: the ring was not full");

        var tried = new Probe();
        Assert.Equal(ClaimedTry.NotNow, connection.TrySendFrameNowClaimed(Frame(905, "not now"), tried));
        Assert.Equal(0, tried.Asked); // not claimed: the connection's end may still take it back

        tried.Refuse = true; // the connection's end took it back between its try and its queueing
        var queuedBefore = invoker.QueuedSends;
        var notQueued = connection.SendFrameOrQueue(Frame(905, "not now"), CancellationToken.None, tried);
        Assert.NotNull(notQueued);
        Assert.True(notQueued.IsFaulted, $"the send of an owner taken back is {notQueued.Status}, not failed at once");
        Assert.IsType<IOException>(notQueued.Exception!.InnerException);
        Assert.Equal(1, tried.Queued);
        Assert.Equal(0, tried.Asked);
        Assert.Equal(queuedBefore, invoker.QueuedSends); // not queued

        var queued = new Probe();
        var pending = connection.SendFrameOrQueue(Frame(907, "queued"), CancellationToken.None, queued);
        Assert.NotNull(pending);
        Assert.False(pending.IsCompleted);
        Assert.Equal(1, queued.Queued);
        Assert.Equal(queuedBefore + 1, invoker.QueuedSends);

        server.Close(0);
        await Assert.ThrowsAnyAsync<Exception>(() => pending.WaitAsync(s_timeout));
        Assert.Equal(0, queued.Asked); // the sender never held room for it
        await Assert.ThrowsAnyAsync<Exception>(() => write.WaitAsync(s_timeout));
    }

    private static byte[] Frame(uint streamId, string text) => RawClient.CallStart(streamId, "Unary", new Request { Text = text });

    /// <summary>An owner of a frame that counts how often it was asked, and says no once <see cref="Refuse"/> (taken back).</summary>
    private sealed class Probe : IQueuedSendClaim
    {
        public bool Refuse { get; set; }

        /// <summary>How often a try or the sender asked it holding room.</summary>
        public int Asked { get; private set; }

        /// <summary>How often it was told it is about to be queued.</summary>
        public int Queued { get; private set; }

        public bool TryClaimSend()
        {
            Asked++;
            return !Refuse;
        }

        public bool OnQueued()
        {
            Queued++;
            return !Refuse;
        }

        public bool TryClaimQueuedSend()
        {
            Asked++;
            return !Refuse;
        }
    }
}

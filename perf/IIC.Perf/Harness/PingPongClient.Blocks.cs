using HdrHistogram;
using IIC.Perf.Core;

namespace IIC.Perf.Harness;

/// <summary>Round trips in blocks, for interleaved rounds (<see cref="InterleavedPingPong"/>, round 19).</summary>
internal sealed partial class PingPongClient
{
    /// <summary>
    /// A client that measures in blocks: <see cref="IRoundTripBlocks.WarmUp"/>, then blocks between controls, then a
    /// Stop. The round trip is compiled for the API and the endpoint's link type once (the poll-claim link held for the
    /// whole run), so a block runs the very loop <see cref="Run"/> does.
    /// </summary>
    public static IRoundTripBlocks ForBlocks(IMessageEndpoint endpoint, LinkOptions link)
    {
        ArgumentNullException.ThrowIfNull(link);
        var client = new PingPongClient(endpoint, link, NoGaps);
        if (link.Api == ReceiveApi.SendAndReceive)
        {
            return new TripBlocks<ReplyTrip>(client, new ReplyTrip(endpoint, client._receive));
        }
        if (link.Api != ReceiveApi.PollClaim)
        {
            return new TripBlocks<CopyTrip>(client, new CopyTrip(endpoint, client._receive));
        }
        var zeroCopy = endpoint as IZeroCopyEndpoint
            ?? throw new InvalidOperationException("This transport cannot poll and claim in place; use --api receive.");
        return zeroCopy.Run(new BlocksVisitor(client));
    }

    private static readonly DriverSettings NoGaps = new(0, 0, 0, 0, 0, 0);

    /// <summary>The round trips of one client and API, held between blocks.</summary>
    private sealed class TripBlocks<TTrip>(PingPongClient client, TTrip trip) : IRoundTripBlocks
        where TTrip : struct, IRoundTrip
    {
        private TTrip _trip = trip;

        public void WarmUp(double seconds)
        {
            client.WarmUp(ref _trip, seconds);
            client.Control(MessageStamp.Mark);
        }

        public (long Count, double ElapsedS, double CpuS) Block(double seconds, LongHistogram histogram)
            => client.Timed(ref _trip, 0, seconds, histogram, gaps: false);

        public void Control(long code) => client.Control(code);
    }

    private sealed class BlocksVisitor(PingPongClient client) : IZeroCopyVisitor<IRoundTripBlocks>
    {
        public IRoundTripBlocks Visit<TLink>(TLink link)
            where TLink : struct, IZeroCopyLink
            => new TripBlocks<ClaimTrip<TLink>>(client, new ClaimTrip<TLink>(link));
    }
}

/// <summary>A ping-pong client measuring in blocks (<see cref="PingPongClient.ForBlocks"/>).</summary>
internal interface IRoundTripBlocks
{
    /// <summary>Round trips for at least the time given and 2000 of them, then a Mark: the echo server's count and CPU clock start.</summary>
    void WarmUp(double seconds);

    /// <summary>Timed round trips for <paramref name="seconds"/>, recorded (Stopwatch ticks) into <paramref name="histogram"/>.</summary>
    (long Count, double ElapsedS, double CpuS) Block(double seconds, LongHistogram histogram);

    /// <summary>Sends a control message (<see cref="MessageStamp"/>) and checks that its echo comes back.</summary>
    void Control(long code);
}

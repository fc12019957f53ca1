using IIC.Perf.Harness;

namespace IIC.Perf.Results;

/// <summary>
/// The two regimes of a polling one-way sink (issue 17, rounds 13-14), told apart by the messages its polls handed out
/// per poll over a block. A sink that keeps up with its writer polls the line the writer is filling and gets a few
/// messages per poll (2-16 in round 13's quiet runs); the rate is then the writer's, slowed by sharing that line. A sink
/// that falls behind drains a backlog at its poll limit (256) per poll; the rate is then the reader's. Both rings show
/// both, and a round whose two blocks ran in different regimes compares a writer-bound rate with a reader-bound one.
/// </summary>
internal static class SinkRegime
{
    /// <summary>The regime of a block whose polls handed out at least half the poll limit on average.</summary>
    public const string Draining = "draining";

    /// <summary>The regime of a block whose polls handed out fewer.</summary>
    public const string KeepingUp = "keeping up";

    /// <summary>Messages per poll from which a block counts as draining: half the sink's poll limit.</summary>
    public const double DrainingFrom = SinkServer.PollLimit / 2.0;

    /// <summary>The regime of a block whose polls handed out <paramref name="msgsPerPoll"/> messages per poll on average.</summary>
    public static string Of(double msgsPerPoll) => msgsPerPoll >= DrainingFrom ? Draining : KeepingUp;
}

namespace IIC.Perf.Core;

/// <summary>The measurements the harness makes; each runs between two processes.</summary>
internal enum BenchTest
{
    /// <summary>Round trips: the client sends, the server echoes, the client times each round trip.</summary>
    PingPong,

    /// <summary>One way: the client sends as fast as it can, the server counts and verifies, then acknowledges.</summary>
    Throughput,

    /// <summary>Round trips with a random pause (10 µs to 1 ms) before each: the cost of waking an idle receiver.</summary>
    IdleGap,

    /// <summary>Idle gap over one of N open channels (1, 10, 100, 1000) that one server thread waits on as a group: wake-up latency and idle CPU against N.</summary>
    Channels,

    /// <summary>One receiving thread (a channel group) fed by 1, 2, 4, 8, 16 sending processes: throughput against senders.</summary>
    FanIn,

    /// <summary>Connect + first round trip + close, IICFast against TCP.</summary>
    Connect,

    /// <summary>One-way bandwidth delivered (read by the receiver) from 8 B to 64 MiB messages, beside memcpy.</summary>
    Sizes,
}

/// <summary>The names tests have on the command line and in the JSON.</summary>
internal static class BenchTestNames
{
    public static string ToName(this BenchTest test) => test switch
    {
        BenchTest.PingPong => "pingpong",
        BenchTest.Throughput => "throughput",
        BenchTest.IdleGap => "idlegap",
        BenchTest.Channels => "channels",
        BenchTest.FanIn => "fanin",
        BenchTest.Connect => "connect",
        BenchTest.Sizes => "sizes",
        _ => throw new ArgumentOutOfRangeException(nameof(test), test, null),
    };

    /// <summary>One-way tests: a sender and a verifying sink.</summary>
    public static bool IsOneWay(this BenchTest test) => test is BenchTest.Throughput or BenchTest.Sizes;

    public static bool TryParse(string name, out BenchTest test)
    {
        foreach (var candidate in Enum.GetValues<BenchTest>())
        {
            if (string.Equals(candidate.ToName(), name, StringComparison.OrdinalIgnoreCase))
            {
                test = candidate;
                return true;
            }
        }
        test = default;
        return false;
    }
}

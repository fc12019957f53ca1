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
}

/// <summary>The names tests have on the command line and in the JSON.</summary>
internal static class BenchTestNames
{
    public static string ToName(this BenchTest test) => test switch
    {
        BenchTest.PingPong => "pingpong",
        BenchTest.Throughput => "throughput",
        BenchTest.IdleGap => "idlegap",
        _ => throw new ArgumentOutOfRangeException(nameof(test), test, null),
    };

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

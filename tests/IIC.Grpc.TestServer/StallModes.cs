namespace IIC.Grpc.Testing;

/// <summary>The response stall limit's argument (tests/IIC.Grpc.Tests/ResponseStallTests.cs).</summary>
public static class StallModes
{
    /// <summary>The "stall-timeout-ms=N" argument of the test server (IicGrpcServerOptions.ResponseStallTimeout), if given.</summary>
    public static TimeSpan? StallTimeoutArgument(string[] args)
    {
        foreach (var arg in args)
        {
            if (arg.StartsWith("stall-timeout-ms=", StringComparison.Ordinal))
            {
                return TimeSpan.FromMilliseconds(int.Parse(arg["stall-timeout-ms=".Length..], System.Globalization.CultureInfo.InvariantCulture));
            }
        }
        return null;
    }
}

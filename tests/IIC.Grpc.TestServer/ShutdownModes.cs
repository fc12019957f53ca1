namespace IIC.Grpc.Testing;

/// <summary>The graceful stop's arguments (tests/IIC.Grpc.Tests/GracefulStopTests.cs).</summary>
public static class ShutdownModes
{
    /// <summary>The "shutdown-timeout-ms=N" argument of the test server (the host's ShutdownTimeout), if given.</summary>
    public static TimeSpan? ShutdownTimeoutArgument(string[] args)
    {
        foreach (var arg in args)
        {
            if (arg.StartsWith("shutdown-timeout-ms=", StringComparison.Ordinal))
            {
                return TimeSpan.FromMilliseconds(int.Parse(arg["shutdown-timeout-ms=".Length..], System.Globalization.CultureInfo.InvariantCulture));
            }
        }
        return null;
    }
}

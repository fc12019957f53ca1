namespace IIC.Grpc.Tests;

/// <summary>
/// The paths every test runs over, chosen by configuration alone: the native IICFast path (completions on the thread
/// pool, and inline on the reader thread) and HTTP/2 over TCP.
/// </summary>
public static class Paths
{
    public static TheoryData<string> Both => new() { "native", "native-inline", "http2-tcp" };
}

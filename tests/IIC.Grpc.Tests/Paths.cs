namespace IIC.Grpc.Tests;

/// <summary>The two paths every test runs over, chosen by address alone.</summary>
public static class Paths
{
    public static TheoryData<string> Both => new() { "native", "http2-tcp" };
}

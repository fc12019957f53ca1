namespace IIC.Grpc.Testing;

/// <summary>A scoped DI service: one per call, so a test can see that each call ran in its own scope.</summary>
public sealed class CallScope
{
    public string Id { get; } = Guid.NewGuid().ToString("N");
}

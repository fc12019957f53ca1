using Grpc.Core;

namespace IIC.Grpc.Server;

/// <summary>One bound method: how to start a call of it on a connection.</summary>
internal abstract class ServerMethod(string fullName, MethodType type)
{
    public string FullName { get; } = fullName;

    public MethodType Type { get; } = type;

    /// <summary>Unary and server streaming calls start when their one request arrived; the others at once.</summary>
    public bool StartsWithRequest => Type is MethodType.Unary or MethodType.ServerStreaming;

    public abstract ServerCallBase CreateCall(ServerConnection connection, uint streamId, Metadata requestHeaders, long timeoutMicroseconds);
}

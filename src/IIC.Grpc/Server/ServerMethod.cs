using Grpc.Core;

namespace IIC.Grpc.Server;

/// <summary>One bound method: how to start a call of it on a connection.</summary>
internal abstract class ServerMethod(string fullName, MethodType type)
{
    public string FullName { get; } = fullName;

    /// <summary>
    /// <see cref="FullName"/> in UTF-8, as a CallStart frame names the method: a connection compares it with the name in the frame
    /// before it decodes the name and hashes it for the method table (<see cref="ServerConnection"/>, its last method).
    /// </summary>
    public byte[] Utf8FullName { get; } = System.Text.Encoding.UTF8.GetBytes(fullName);

    public MethodType Type { get; } = type;

    /// <summary>Unary and server streaming calls start when their one request arrived; the others at once.</summary>
    public bool StartsWithRequest => Type is MethodType.Unary or MethodType.ServerStreaming;

    public abstract ServerCallBase CreateCall(ServerConnection connection, uint streamId, Metadata requestHeaders, long timeoutMicroseconds);
}

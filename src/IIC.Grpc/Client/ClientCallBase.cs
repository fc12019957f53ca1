using Grpc.Core;
using IIC.Grpc.Protocol;

namespace IIC.Grpc.Client;

/// <summary>What a <see cref="ClientConnection"/>'s reader thread tells a call, whatever its message types.</summary>
internal abstract class ClientCallBase
{
    /// <summary>The response message being gathered from chunks (reader thread only).</summary>
    public MessageAssembler Assembler;

    public abstract void OnResponseHeaders(Metadata headers);

    /// <summary>One whole response message; the call owns its array from now on.</summary>
    public abstract void OnMessage(ReceivedMessage message);

    public abstract void OnTrailers(Status status, Metadata trailers);

    /// <summary>The connection ended under the call.</summary>
    public abstract void OnConnectionLost(Status status);

    /// <summary>Ends the call here (cancelled, deadline, limit, local error) and tells the server.</summary>
    public abstract void CompleteLocally(Status status);
}

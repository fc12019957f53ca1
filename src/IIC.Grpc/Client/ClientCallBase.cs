using Grpc.Core;
using IIC.Grpc.Protocol;

namespace IIC.Grpc.Client;

/// <summary>What a <see cref="ClientConnection"/>'s reader thread tells a call, whatever its message types.</summary>
internal abstract class ClientCallBase : IStreamCall, IQueuedSendClaim
{
    /// <summary>The response message being gathered from chunks (reader thread only).</summary>
    public MessageAssembler Assembler;

    /// <summary>The call's stream id on its connection, set when it is registered (0 before).</summary>
    public uint StreamId { get; set; }

    /// <summary>Whether the call holds one of its connection's slots (the server's limit). Under the connection's CallRegistry lock.</summary>
    internal bool HoldsSlot;

    /// <summary>
    /// Whether the CallStart of the call's current registration may have been sent (ClientCall.Retry.cs). Changed only with
    /// <see cref="Interlocked.CompareExchange{T}(ref T, T, T)"/>, apart from the reset by the start that found it
    /// LostBeforeSent, when no connection holds the call. Here, not in ClientCall: one byte after <see cref="HoldsSlot"/>
    /// fits in this class's padding, where in ClientCall (whose flags fill their 8 bytes) it made every call 8 bytes larger.
    /// </summary>
    internal CallStartProgress StartProgress;

    /// <summary>
    /// <see cref="StartProgress"/>, read with acquire order (Volatile has no overload for an enum): the enum is a byte, so
    /// reading it as its byte reads the same memory.
    /// </summary>
    internal CallStartProgress ReadStartProgress()
        => (CallStartProgress)Volatile.Read(ref System.Runtime.CompilerServices.Unsafe.As<CallStartProgress, byte>(ref StartProgress));

    /// <summary>
    /// A try to send the CallStart at once holds room for its first record (round 24): it may go unless the connection's end
    /// took the call back first (Unsent to MayBeSent; LostBeforeSent stays, and the start starts the call again).
    /// </summary>
    bool IQueuedSendClaim.TryClaimSend()
        => Interlocked.CompareExchange(ref StartProgress, CallStartProgress.MayBeSent, CallStartProgress.Unsent) == CallStartProgress.Unsent;

    /// <summary>
    /// The CallStart did not go at once and waits for the connection's sender (ClientCall.Retry.cs, round 22), or in the
    /// reader thread's deferred frames (round 23): the connection's end may still take it back. Since round 24 the tries
    /// claim only holding room, so a failed try left it Unsent and this swaps Unsent to Queued; false when the connection's
    /// end came first (LostBeforeSent): it is not queued, and the start starts the call again. Before, the start claimed
    /// before its try, and an end between that claim and this swap ended the call Unavailable, nothing of it sent.
    /// </summary>
    bool IQueuedSendClaim.OnQueued()
        => Interlocked.CompareExchange(ref StartProgress, CallStartProgress.Queued, CallStartProgress.Unsent) == CallStartProgress.Unsent;

    /// <summary>The connection's sender (or reader thread) holds room for the queued CallStart: it may go unless the connection's end took it first.</summary>
    bool IQueuedSendClaim.TryClaimQueuedSend()
        => Interlocked.CompareExchange(ref StartProgress, CallStartProgress.MayBeSent, CallStartProgress.Queued) == CallStartProgress.Queued;

    /// <summary>The call's span and duration (IIC.Grpc's telemetry), when something listens; else null. Set before the call starts.</summary>
    internal IIC.Grpc.Telemetry.ClientCallTelemetry? Telemetry;

    /// <summary>
    /// The call's place in its connection's queue while it waits for a slot, else null. Under the CallRegistry lock. Kept by
    /// the call's rarely made start state (ClientCall), not in every call object; a call that is never queued has none.
    /// </summary>
    internal virtual LinkedListNode<ClientCallBase>? QueueNode
    {
        get => null;
        set => throw new NotSupportedException("This call cannot wait for a slot.");
    }

    /// <summary>
    /// The call waited for a slot and got one (numbered and registered): send its start now, without waiting on the calling
    /// thread (the reader thread, or whichever thread ended the call that freed the slot). Never throws. Every call that can
    /// be queued overrides it (ClientCall); the registry's own tests' probes are never queued.
    /// </summary>
    public virtual void StartQueued()
    {
    }

    /// <summary>
    /// The call was registered on <paramref name="connection"/> of its invoker's pool, not the one it was given (that one
    /// had no slot for it; or it waited in the pool's queue and this one freed a slot first): it goes there. Under the
    /// pool's lock, before it is started. Only calls of a pool move (ClientCall); the registry's own tests' probes never do.
    /// </summary>
    public virtual void MoveTo(ClientConnection connection)
    {
    }

    public abstract void OnResponseHeaders(Metadata headers);

    /// <summary>One whole response message; the call owns its array from now on.</summary>
    public abstract void OnMessage(ReceivedMessage message);

    public abstract void OnTrailers(Status status, Metadata trailers);

    /// <summary>
    /// One whole message of a streaming response, in one frame: deserialized straight from <paramref name="payload"/>
    /// (in the ring, valid only during this call) and queued for the application. False when the call takes the usual
    /// path instead (<see cref="OnMessage"/> with a copy: a single-response call).
    /// </summary>
    public virtual bool TryAddInPlace(ReadOnlySpan<byte> payload) => false;

    /// <summary>
    /// The server's trailers with the single response in the same frame: deserialized straight from
    /// <paramref name="payload"/>, which lies in the ring and is valid only during this call. False when the call takes
    /// the usual path instead (a streaming response, a failed status, a response already received): the caller then
    /// hands over the message and the trailers as separate events.
    /// </summary>
    public virtual bool TryCompleteInPlace(Status status, Metadata trailers, ReadOnlySpan<byte> payload) => false;

    /// <summary>The connection ended under the call.</summary>
    public abstract void OnConnectionLost(Status status);

    /// <summary>
    /// The connection ended while the call waited for a slot there: it sent nothing, so it may start again on another
    /// connection (ClientCall: a transparent retry, docs/grpc-call-protocol.md 1); else it ends with <paramref name="status"/>.
    /// </summary>
    public virtual void OnConnectionEndedUnsent(Status status) => OnConnectionLost(status);

    /// <summary>Ends the call here (cancelled, deadline, limit, local error) and tells the server.</summary>
    public abstract void CompleteLocally(Status status);
}

using Grpc.Core;

namespace IIC.Grpc.Protocol;

/// <summary>The call that owns a <see cref="BatchedMessageReader{T}"/>: what differs between a client's responses and a server's requests.</summary>
internal interface IBatchedMessageReaderOwner
{
    /// <summary>
    /// Under the reader's lock, its queue empty: whether no more messages will be read, and if so what MoveNext throws
    /// (<paramref name="failure"/>; null: MoveNext returns false). False: MoveNext waits.
    /// </summary>
    bool TryEnd(out Exception? failure);

    /// <summary>Outside the lock: a queued message failed to deserialize and MoveNext reached it; returns what MoveNext throws.</summary>
    Exception OnBrokenMessage(RpcException failure);

    /// <summary>Outside the lock: MoveNext would wait but its token is already cancelled; returns MoveNext's task.</summary>
    Task<bool> OnCancelledBeforeWait(CancellationToken token);

    /// <summary>Whether a wait on <paramref name="token"/> (one that can be cancelled) needs a registration of its own.</summary>
    bool RegistersWaitToken(CancellationToken token);

    /// <summary>The registered token of a waiting MoveNext fired (any thread, outside the lock).</summary>
    void OnWaitCancelled(CancellationToken token);
}

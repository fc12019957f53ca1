using IIC.Native;

namespace IIC.Hardware;

/// <summary>
/// The control messages a partition's socket did not take yet, oldest first: the hypervisor is not reading (stopped,
/// hung, hostile) or reads slower than the partition sends, and its socket's send buffer is full. The partition never
/// blocks in sendmsg (a blocked send held the send lock, so one stuck hypervisor stopped every caller, Dispose among
/// them, past any timeout); each message waits here, whole (a SOCK_SEQPACKET send takes a message whole or not at
/// all), until the socket polls writable. A request's message can be withdrawn while it waits (its caller gave up:
/// the hypervisor never sees it). Not thread safe: the partition's send lock guards it; <see cref="Count"/> may be
/// read without it. Allocates only while messages wait (the socket was full).
/// </summary>
internal sealed class ControlSendQueue
{
    private readonly LinkedList<Entry> _entries = new();
    private readonly Dictionary<uint, LinkedListNode<Entry>> _requests = []; // request id -> its message, while it waits
    private int _count;

    /// <summary>Messages waiting (readable without the lock: 0 means nothing to flush or withdraw).</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>Queues a copy of <paramref name="message"/>; <paramref name="requestId"/> (non-zero) lets <see cref="Withdraw"/> find it.</summary>
    public void Enqueue(ReadOnlySpan<byte> message, uint requestId)
    {
        var node = _entries.AddLast(new Entry(message.ToArray(), requestId));
        if (requestId != 0)
        {
            _requests[requestId] = node;
        }
        Volatile.Write(ref _count, _entries.Count);
    }

    /// <summary>Sends what the socket takes now, oldest first. True when nothing waits any more.</summary>
    /// <exception cref="NativeException">sendmsg failed other than with EAGAIN (the hypervisor hung up).</exception>
    /// <exception cref="ObjectDisposedException">The socket was closed.</exception>
    public bool Flush(SeqPacketSocket socket)
    {
        while (_entries.First is { } first)
        {
            if (!socket.TrySend(first.Value.Message))
            {
                return false;
            }
            _entries.RemoveFirst();
            if (first.Value.RequestId != 0)
            {
                _requests.Remove(first.Value.RequestId);
            }
            Volatile.Write(ref _count, _entries.Count);
        }
        return true;
    }

    /// <summary>Takes request <paramref name="requestId"/>'s message out if it still waits (then the hypervisor never sees it).</summary>
    public bool Withdraw(uint requestId)
    {
        if (!_requests.Remove(requestId, out var node))
        {
            return false;
        }
        _entries.Remove(node);
        Volatile.Write(ref _count, _entries.Count);
        return true;
    }

    /// <summary>Forgets every message (the control socket was closed: the hypervisor detaches the partition, which says it all).</summary>
    public void Clear()
    {
        _entries.Clear();
        _requests.Clear();
        Volatile.Write(ref _count, 0);
    }

    private readonly record struct Entry(byte[] Message, uint RequestId);
}

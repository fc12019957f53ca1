using System.Diagnostics;
using IIC.Native;

namespace IIC.Hardware;

/// <summary>
/// The control messages a partition has not read yet. The hypervisor sends with MSG_DONTWAIT; when the socket is
/// full, the message (and references to the descriptors it carries) waits here, and the event loop polls for
/// POLLOUT. A queued message whose descriptor was closed meanwhile (its grant ended) is dropped: it has no meaning
/// left. Bounded by the caller (HypervisorOptions.MaxOutboundMessagesPerPartition).
/// </summary>
internal sealed class OutboundQueue
{
    private readonly Queue<Entry> _entries = new();

    /// <summary>Messages waiting.</summary>
    public int Count => _entries.Count;

    /// <summary>Grants (Incoming or Connected) waiting.</summary>
    public int GrantCount { get; private set; }

    /// <summary>Since when (Stopwatch ticks) the socket has taken nothing while messages wait; 0 when empty.</summary>
    public long StalledSince { get; private set; }

    /// <summary>
    /// Sends <paramref name="message"/> now if nothing is queued and the socket takes it; queues a copy otherwise.
    /// </summary>
    /// <exception cref="NativeException">sendmsg failed other than with EAGAIN (the partition hung up).</exception>
    public void Send(SeqPacketSocket socket, ReadOnlySpan<byte> message, bool isGrant, params ReadOnlySpan<FileDescriptor> descriptors)
    {
        if (_entries.Count == 0 && socket.TrySend(message, descriptors))
        {
            return;
        }
        if (_entries.Count == 0)
        {
            StalledSince = Stopwatch.GetTimestamp();
        }
        _entries.Enqueue(new Entry(message.ToArray(), descriptors.ToArray(), isGrant));
        if (isGrant)
        {
            GrantCount++;
        }
    }

    /// <summary>Sends what the socket takes now, oldest first. Returns the number of stale messages dropped.</summary>
    /// <exception cref="NativeException">sendmsg failed other than with EAGAIN (the partition hung up).</exception>
    public int Flush(SeqPacketSocket socket)
    {
        var dropped = 0;
        while (_entries.TryPeek(out var entry))
        {
            try
            {
                if (!socket.TrySend(entry.Message, entry.Descriptors))
                {
                    return dropped;
                }
            }
            catch (ObjectDisposedException) when (!socket.Descriptor.IsClosed)
            {
                dropped++; // a descriptor it carried was closed: its grant ended before the partition read it
            }
            _entries.Dequeue();
            if (entry.IsGrant)
            {
                GrantCount--;
            }
            StalledSince = _entries.Count == 0 ? 0 : Stopwatch.GetTimestamp();
        }
        return dropped;
    }

    /// <summary>Forgets every queued message (the partition was detached).</summary>
    public void Clear()
    {
        _entries.Clear();
        GrantCount = 0;
        StalledSince = 0;
    }

    private readonly record struct Entry(byte[] Message, FileDescriptor[] Descriptors, bool IsGrant);
}

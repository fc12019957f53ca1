using Grpc.Core;

namespace IIC.Grpc.Protocol;

/// <summary>
/// The messages of one streaming direction of one call (a client's responses, a server's requests), already
/// deserialized by the connection's reader thread, waiting for the application's <c>MoveNext</c>, in arrival order.
/// A ring of entries that grows by doubling and is reused: queuing a message allocates nothing once it has grown to the
/// burst's size. Not thread safe: its <see cref="BatchedMessageReader{T}"/> locks around every use (its gate, which is
/// also its call's).
/// </summary>
internal sealed class StreamBuffer<T>
    where T : class
{
    private StreamEntry<T>[] _entries = new StreamEntry<T>[16];
    private int _head;
    private int _count;

    /// <summary>Messages waiting.</summary>
    public int Count => _count;

    /// <summary>Adds one entry at the end.</summary>
    public void Enqueue(in StreamEntry<T> entry)
    {
        if (_count == _entries.Length)
        {
            Grow();
        }
        _entries[(_head + _count) & (_entries.Length - 1)] = entry; // the length is a power of two
        _count++;
    }

    /// <summary>Takes the first entry; false when there is none.</summary>
    public bool TryDequeue(out StreamEntry<T> entry)
    {
        if (_count == 0)
        {
            entry = default;
            return false;
        }
        entry = _entries[_head];
        _entries[_head] = default; // the message is the application's now: the buffer does not keep it alive
        _head = (_head + 1) & (_entries.Length - 1);
        _count--;
        return true;
    }

    /// <summary>Drops every entry (a call that ended here: nobody reads them).</summary>
    public void Clear()
    {
        while (TryDequeue(out _))
        {
        }
    }

    private void Grow()
    {
        var grown = new StreamEntry<T>[_entries.Length * 2];
        for (var i = 0; i < _count; i++)
        {
            grown[i] = _entries[(_head + i) & (_entries.Length - 1)];
        }
        _entries = grown;
        _head = 0;
    }
}

/// <summary>
/// One received message of a stream: the deserialized message, or why it could not be deserialized (the application
/// learns it when it reaches this place in the stream, as it would have had the message been parsed in its MoveNext).
/// </summary>
internal readonly record struct StreamEntry<T>(T? Message, RpcException? Failure)
    where T : class;

/// <summary>
/// A call whose waiting reader the connection's reader thread wakes once at the end of a poll batch
/// (<see cref="CallConnection.WakeAfterBatch"/>), after it queued all of the batch's messages, rather than once per
/// message: a reader woken once then takes the whole batch without waiting again.
/// </summary>
internal interface IBatchWake
{
    /// <summary>Runs on the connection's reader thread after the batch in which the call asked for it.</summary>
    void OnBatchEnd();
}

using IIC.Native;

namespace IIC.Hardware;

/// <summary>
/// The sender of a partition without a reader epoll (out of descriptors at attach: PartitionReading.cs, PollLoop).
/// Its reader waits in poll(2) for readability alone, and nothing can add writability to a poll under way without a
/// descriptor, so while messages wait in the send queue a thread of its own waits in poll for the socket's writability
/// and sends them the moment it can take them; it ends when the queue is empty (started again by the next message
/// that has to wait). No wake-up while the socket stays full. Before round 24 a 10 ms timer tried to send what waited:
/// a hundred attempts a second against a full socket, and each message up to 10 ms late once it drained.
/// </summary>
public sealed partial class Partition
{
    private Thread? _sender; // under _sendLock: the thread that sends what waits, while messages wait (no reader epoll)
    private long _backgroundFlushes; // under _sendLock: attempts to send what waits, off the senders' own threads

    /// <summary>Tests: how many times a background thread (the reader, or without its epoll the sender) tried to send what waits.</summary>
    internal long BackgroundFlushes
    {
        get
        {
            lock (_sendLock)
            {
                return _backgroundFlushes;
            }
        }
    }

    /// <summary>Under <c>_sendLock</c>, messages waiting: starts the sender unless it runs (it looks at the queue under the lock before it ends).</summary>
    private void StartSender()
    {
        if (_sender is not null)
        {
            return;
        }
        var sender = new Thread(SendLoop) { IsBackground = true, Name = $"IIC partition '{Name}' sender" };
        sender.UnsafeStart();
        _sender = sender;
    }

    /// <summary>Waits for the socket to take more, sends what waits, until nothing waits or the socket closes.</summary>
    private void SendLoop()
    {
        try
        {
            while (true)
            {
                lock (_sendLock)
                {
                    // A message queued after this look finds _sender set and is sent by the next turn; one queued after
                    // _sender is cleared starts a new sender.
                    if (_sendQueue.Count == 0 || Volatile.Read(ref _controlClosed) != 0)
                    {
                        _sender = null;
                        return;
                    }
                }
                // Writable, or hung up or failed (Dispose's or Lose's shutdown among them): the flush then fails, Lose
                // clears the queue, and the next look ends this thread. The poll holds a reference on the descriptor,
                // so Dispose cannot close its number under it.
                Poll.WaitOne(_socket.Descriptor, PollEvents.Writable, Timeout.InfiniteTimeSpan);
                if (Volatile.Read(ref _controlClosed) == 0)
                {
                    FlushQueued();
                }
            }
        }
        catch (ObjectDisposedException)
        {
            // The socket is closed: closing it cleared the queue (a message queued later fails on its sender's thread).
            lock (_sendLock)
            {
                _sender = null;
            }
        }
        catch (NativeException e)
        {
            // poll failed (ENOMEM): what waits could not be sent any more, so the hypervisor is lost, as when the reader's poll fails.
            lock (_sendLock)
            {
                _sender = null;
            }
            Lose($"the control socket failed ({e.Message})");
        }
    }
}

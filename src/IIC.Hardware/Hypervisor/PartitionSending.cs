using System.Globalization;
using IIC.Native;

namespace IIC.Hardware;

/// <summary>
/// How a partition sends to the hypervisor: never with a blocking call. A message goes out at once when the socket
/// takes it (<c>MSG_DONTWAIT</c>: the common case, no allocation); when its send buffer is full (the hypervisor is not
/// reading: stopped, hung or hostile, or slower than we send) the message waits, whole, in <see cref="ControlSendQueue"/>,
/// and the background reader sends it when the socket polls writable (its epoll asks for writability while messages
/// wait, so a partition whose hypervisor reads pays no wake-up for it; without that epoll a sender thread waits for
/// writability in poll: PartitionSender.cs). Later messages queue behind it, so the
/// hypervisor reads them in the order they were sent. A request whose message still waits when its caller gives up
/// (timeout, token, Dispose) is withdrawn: the hypervisor never sees it, and the caller is told the hypervisor is not
/// reading its control socket. Before round 20 a send blocked in sendmsg under the send lock: a hypervisor that
/// stopped reading held every sender (Connect past its timeout, ConnectAsync's calling thread, Dispose) for good.
/// </summary>
public sealed partial class Partition
{
    /// <summary>
    /// Messages that may wait for a hypervisor that does not read its control socket (the hypervisor's own limit for a
    /// partition that does not read, <c>MaxOutboundMessagesPerPartition</c>, is the same). A request beyond it fails at
    /// once; a notice beyond it (<c>Release</c>, <c>Cancel</c>, <c>Unlisten</c>, <c>Accepted</c>, which nobody waits
    /// for and which may not be dropped: the hypervisor would keep a grant or a listener we gave up) declares the
    /// hypervisor lost and hangs up, and the hypervisor's detach of this partition then frees all that they would have.
    /// </summary>
    internal const int MaxQueuedControlMessages = 1024;

    private readonly ControlSendQueue _sendQueue = new(); // under _sendLock
    private readonly Lock _interestLock = new(); // orders the changes of the reader's epoll interest in the socket
    private bool _writableWanted; // under _sendLock: the reader was asked to watch writability (messages wait)

    /// <summary>Control messages waiting for the socket to take them (the hypervisor is not reading, or slower than we send).</summary>
    internal int QueuedControlMessages => _sendQueue.Count;

    private enum SendResult
    {
        Sent,
        Queued,
        QueueFull,
        Lost,
    }

    /// <summary>Sends a notice nobody waits for (queued while the socket is full); false if the hypervisor is lost (now or before).</summary>
    private bool TrySend<TState>(ControlMessageType type, uint requestId, TState state, ControlBody<TState> body)
    {
        var result = Send(type, requestId, state, body, isRequest: false);
        if (result == SendResult.QueueFull)
        {
            Lose(string.Create(CultureInfo.InvariantCulture,
                $"it did not read its control socket while {MaxQueuedControlMessages} messages from this partition waited for it (stopped, hung or hostile); this partition hung up so that the hypervisor frees what the waiting messages asked for"));
            return false;
        }
        return result != SendResult.Lost;
    }

    /// <summary>Sends request <paramref name="requestId"/> (queued while the socket is full: its caller's deadline and token bound the wait).</summary>
    /// <exception cref="HypervisorException">The hypervisor is lost, or so many messages wait for it that the request was not even queued.</exception>
    private void SendRequest<TState>(ControlMessageType type, uint requestId, TState state, ControlBody<TState> body)
    {
        switch (Send(type, requestId, state, body, isRequest: true))
        {
            case SendResult.Lost:
                ThrowIfLost();
                break;
            case SendResult.QueueFull:
                throw new HypervisorException(string.Create(CultureInfo.InvariantCulture,
                    $"Hypervisor '{HypervisorName}' is not reading its control socket: {MaxQueuedControlMessages} messages from partition '{Name}' already wait for it, so the {type} request was not sent. It may be stopped (SIGSTOP, a debugger), hung or overloaded: check the hypervisor process (pid {HypervisorProcessId}), or restart it and attach again."));
        }
    }

    /// <summary>
    /// The exception for a request whose deadline passed: if its message still waited to be sent, it is withdrawn and
    /// the hypervisor was not reading; otherwise the hypervisor took the request and did not answer in time.
    /// </summary>
    private HypervisorException RequestTimedOut(ControlMessageType type, uint requestId)
    {
        var waiting = _sendQueue.Count;
        return WithdrawQueued(requestId)
            ? new HypervisorException(string.Create(CultureInfo.InvariantCulture,
                $"Hypervisor '{HypervisorName}' did not take the {type} request within its timeout: it is not reading its control socket ({waiting} messages from partition '{Name}' waited for it; the request was never sent). It may be stopped (SIGSTOP, a debugger), hung or overloaded: check the hypervisor process (pid {HypervisorProcessId}), or restart it and attach again."))
            : new HypervisorException($"Hypervisor '{HypervisorName}' did not answer the {type} request in time (it may be stopped or overloaded).");
    }

    private SendResult Send<TState>(ControlMessageType type, uint requestId, TState state, ControlBody<TState> body, bool isRequest)
    {
        SendResult result;
        bool interestChanged;
        string? failure = null;
        lock (_sendLock)
        {
            if (_lostReason is not null)
            {
                return SendResult.Lost;
            }
            var writer = new ControlWriter(_sendBuffer, type, requestId);
            body(ref writer, state);
            var message = writer.Finish();
            try
            {
                // Older messages first: the hypervisor must read them in the order they were sent.
                if ((_sendQueue.Count == 0 || _sendQueue.Flush(_socket)) && _socket.TrySend(message))
                {
                    ConnectTrace.Mark(ConnectStep.ControlSent, (int)type);
                    result = SendResult.Sent;
                }
                else if (_sendQueue.Count >= MaxQueuedControlMessages)
                {
                    result = SendResult.QueueFull;
                }
                else
                {
                    _sendQueue.Enqueue(message, isRequest ? requestId : 0);
                    result = SendResult.Queued;
                }
            }
            catch (Exception e) when (e is NativeException or IOException or ObjectDisposedException)
            {
                failure = $"the control socket failed ({e.Message})";
                result = SendResult.Lost;
            }
            interestChanged = WritableInterestChanged();
        }
        if (failure is not null)
        {
            Lose(failure);
        }
        else if (interestChanged)
        {
            WatchWritability();
        }
        return result;
    }

    /// <summary>Sends what waits, as far as the socket takes it (the background reader, when the socket may be writable).</summary>
    private void FlushQueued()
    {
        if (_sendQueue.Count == 0)
        {
            return;
        }
        bool interestChanged;
        string? failure = null;
        lock (_sendLock)
        {
            try
            {
                _backgroundFlushes++;
                _sendQueue.Flush(_socket);
            }
            catch (Exception e) when (e is NativeException or IOException or ObjectDisposedException)
            {
                failure = $"the control socket failed ({e.Message})";
            }
            interestChanged = WritableInterestChanged();
        }
        if (failure is not null)
        {
            Lose(failure);
        }
        else if (interestChanged)
        {
            WatchWritability();
        }
    }

    /// <summary>Takes request <paramref name="requestId"/>'s message out of the queue if it still waits there (nothing allocated, no lock when nothing waits).</summary>
    private bool WithdrawQueued(uint requestId)
    {
        if (_sendQueue.Count == 0)
        {
            return false;
        }
        bool withdrawn, interestChanged;
        lock (_sendLock)
        {
            withdrawn = _sendQueue.Withdraw(requestId);
            interestChanged = WritableInterestChanged();
        }
        if (interestChanged)
        {
            WatchWritability();
        }
        return withdrawn;
    }

    /// <summary>Forgets what waits (the socket is closed or lost: the hypervisor detaches this partition, which frees all the messages asked for).</summary>
    private void ClearQueued()
    {
        lock (_sendLock)
        {
            _sendQueue.Clear();
            _writableWanted = false;
        }
    }

    /// <summary>Under <c>_sendLock</c>: whether the reader's interest in writability must change (it watches it while messages wait).</summary>
    private bool WritableInterestChanged()
    {
        var wanted = _sendQueue.Count != 0;
        if (wanted == _writableWanted)
        {
            return false;
        }
        _writableWanted = wanted;
        if (_readEpoll is null)
        {
            // No reader epoll (out of descriptors at attach): the reader waits in poll for readability, and nothing can
            // add writability to a poll under way (a kick would need a descriptor too), so a thread of its own waits for
            // writability while messages wait (PartitionSender.cs).
            if (wanted)
            {
                WakeSender();
            }
            return false;
        }
        return true;
    }

    /// <summary>Asks the background reader's epoll for what the socket's state now calls for (see <see cref="UpdateSocketInterest"/>).</summary>
    private void WatchWritability()
    {
        if (_readEpoll is not { } epoll)
        {
            return;
        }
        try
        {
            UpdateSocketInterest(epoll);
        }
        catch (Exception e) when (e is NativeException or ObjectDisposedException)
        {
            // The socket or the epoll is closed: nothing will be sent any more.
        }
    }

    /// <summary>
    /// Sets what wakes the background reader: the socket's readability while no caller reads it, its writability while
    /// messages wait to be sent. The state is read under the lock, so whichever change comes last is what epoll keeps
    /// (each change of either is followed by a call here). A change re-reports the socket at once if it is ready then.
    /// </summary>
    private void UpdateSocketInterest(Epoll epoll)
    {
        lock (_interestLock)
        {
            epoll.Modify(_socket.Descriptor, 0, readable: Volatile.Read(ref _callerReading) == 0, edgeTriggered: true, writable: _sendQueue.Count != 0);
        }
    }
}

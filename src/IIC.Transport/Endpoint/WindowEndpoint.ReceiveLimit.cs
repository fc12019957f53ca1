using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using IIC.Hardware;

namespace IIC.Transport;

// The receive limit (ChannelOptions.MaxReceiveMessageLength; docs/window-layout.md 2.4): a fragmented message whose first
// fragment announces more than the limit is refused before anything is rented or copied for it, and its fragments are
// consumed and dropped as they arrive, across calls (_discarding, beside _assembling), so its sender is never held up and
// the messages after it arrive as usual. Only where a fragmented message begins: the one-record paths never look here.
internal sealed unsafe partial class WindowEndpoint
{
    /// <summary>The length of the reassembly buffer held for reuse, 0 when none (tests: a refused message never rents one).</summary>
    internal int ReassemblyBufferLength => _assembly?.Length ?? 0;

    /// <summary>
    /// Refuses the message whose first fragment (validated, announcing <paramref name="total"/> bytes, over the limit) is
    /// at the head: consumes that fragment, enters the discarding state, counts and traces it (<see cref="RefusedReceives"/>,
    /// <see cref="IicEventSource.MessageRefused"/>), drops the fragments already there, and throws. The caller is inside the
    /// receive role and has handed out nothing in this call (a Poll that has stops before it, so its count is returned and
    /// the next call reports this one).
    /// </summary>
    /// <exception cref="ReceiveLimitExceededException">Always: the message was refused (nothing of it is delivered).</exception>
    /// <exception cref="RingFaultException">A fragment already there does not continue the message (the ring is marked faulted).</exception>
    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void RefuseOverLimit(int total, ReadOnlySpan<byte> firstFragment)
    {
        _reader.Consume(publish: PublishEachFragment);
        _assemblyLength = total; // what the fragments are checked against, as when gathering (nothing is rented)
        _assemblyFilled = firstFragment.Length - RecordHeader.MessageLengthPrefixSize;
        _discarding = true;
        _assembling = true; // the one-record fast paths decline while a message is in progress (TryEnterWithRecord)
        RefusedReceives++;
        // The trace event: one IsEnabled check when nobody listens; when someone does, its payload is typed EventData on
        // the stack (no boxing here). The ring's service is the channel's name (set by TransportMetrics.Register).
        IicEventSource.Log.MessageRefused(_reader.Ring.Service ?? "", _side, Environment.ProcessId, total, _maxReceiveLength);
        ContinueDiscard(); // what already arrived goes now: the sender is not held up until the next receive
        throw new ReceiveLimitExceededException(total, _maxReceiveLength);
    }

    /// <summary>
    /// Drops the refused message's fragments that are there, each checked as a gathered one is
    /// (<see cref="ValidateContinuation"/>) and its space returned to the writer at once; true when the message ended
    /// (its last fragment, or the sender's Abandon record: counted once, as refused), which leaves the discarding state.
    /// False when more is to come.
    /// </summary>
    /// <exception cref="RingFaultException">A record does not continue the message (the ring is marked faulted).</exception>
    private bool ContinueDiscard()
    {
        while (_reader.TryPeek(out var type, out var payload))
        {
            var step = ValidateContinuation(type, payload.Length, _assemblyLength, _assemblyFilled);
            _reader.Consume(publish: PublishEachFragment);
            if (step != Continuation.Middle)
            {
                _discarding = false;
                _assembling = false;
                _reader.PublishHeadIfStale(); // as ContinueAssembly: a writer waiting for room must see it before we wait
                return true;
            }
            _assemblyFilled += payload.Length;
        }
        _reader.PublishHeadIfStale();
        return false;
    }
}

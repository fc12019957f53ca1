using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using IIC.Hardware;

namespace IIC.Transport;

/// <summary>
/// The lifetime guard: Dispose is safe from any thread. Each role marks itself in flight on a line of its own, and
/// the mapping is released only once no operation is in flight (by Dispose, or by the last operation to leave).
/// </summary>
internal sealed unsafe partial class WindowEndpoint
{
    /// <summary>
    /// Makes this side's close (<see cref="Dispose"/>, which the caller makes next) a reset: the peer's receives, once
    /// drained, end with <see cref="IicChannelClosedException.PeerReset"/> set instead of a clean end. No effect once the
    /// close has begun.
    /// </summary>
    public void ResetOnClose() => Volatile.Write(ref _resetOnClose, 1);

    /// <summary>Closes this side: the peer's receives end once they drained what was sent.</summary>
    /// <remarks>
    /// Safe from any thread, also while another thread sends, receives or holds a claim or a polled span: the
    /// mapping is released only once no operation is in flight (by Dispose, or by the last operation to leave).
    /// Operations that were waiting end with <see cref="ObjectDisposedException"/>.
    /// </remarks>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposeStarted, 1) != 0)
        {
            return;
        }
        // L1 (docs/architecture.md; partners L2 and L3). Dispose itself uses the mapping below: count it in flight before anyone can see _disposed, or an
        // operation leaving at that moment would release the mapping under us.
        Volatile.Write(ref _closing.Value, 1);
        Interlocked.Exchange(ref _disposed, 1); // full fence: _closing is visible to whoever sees _disposed
        _window.MarkClosed(_side, reset: Volatile.Read(ref _resetOnClose) != 0);
        // Our own waiters (another thread of this process parked on this channel) are woken only if one announced sleep:
        // the exchange of _disposed above is the full fence before the loads of the sleeping flags, and every sleeper
        // re-checks _disposed (ReadTarget) after its announcement (R3), so one that is awake sees the disposal itself.
        if (_grouped)
        {
            // A group receiver waits on a page shared with other members: raise our own vector so it finds this
            // member ready (disposed) instead of a futex bump with nothing pending, which it counts against the page.
            _window.GetInterruptPage(_side).RaiseIfSleeping(_window.GetVector(_side));
            _waiter.Page.WakeIfSleeping(); // and a thread waiting on it alone, on its own block
        }
        else
        {
            _waiter.Page.WakeIfSleeping(); // our own receiver, if another thread parks in it, wakes and sees the disposal
        }
        Volatile.Write(ref _closing.Value, 0);
        ConnectTrace.Mark(ConnectStep.CloseMarked, _side);
        // The in-flight flags are plain stores on the hot paths; this barrier makes every thread's earlier
        // stores visible before we read them (and ours before they read _disposed): an asymmetric Dekker.
        Interlocked.MemoryBarrierProcessWide();
        ConnectTrace.Mark(ConnectStep.CloseFenced, _side);
        TryRelease();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void EnterSending()
    {
        // L2: flag, then load _disposed; partner L1 (its process-wide barrier orders this plain store).
        Volatile.Write(ref _sending.Value, 1);
        if (Volatile.Read(ref _disposed) != 0)
        {
            ExitSending();
            ThrowIfDisposed();
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void ExitSending()
    {
        Volatile.Write(ref _sending.Value, 0); // L2: clear, then load _disposed; partner L1
        if (Volatile.Read(ref _disposed) != 0)
        {
            TryRelease();
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void EnterReceiving()
    {
        // L2: flag, then load _disposed; partner L1.
        Volatile.Write(ref _receiving.Value, 1);
        if (Volatile.Read(ref _disposed) != 0)
        {
            ExitReceiving();
            ThrowIfDisposed();
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void ExitReceiving()
    {
        Volatile.Write(ref _receiving.Value, 0); // L2: clear, then load _disposed; partner L1
        if (Volatile.Read(ref _disposed) != 0)
        {
            TryRelease();
        }
    }

    /// <summary>Releases the mapping once disposed and no operation is in flight; only the first caller to see that does it.</summary>
    private void TryRelease()
    {
        // L3: every in-flight flag reads 0, then one exchange elects the one caller that unmaps; partners L1, L2.
        if (Volatile.Read(ref _closing.Value) == 0 && Volatile.Read(ref _sending.Value) == 0 && Volatile.Read(ref _receiving.Value) == 0
            && Interlocked.Exchange(ref _released, 1) == 0)
        {
            _lease.Dispose();
            if (_ownsWindow)
            {
                // The munmap (8-30 µs, the close's largest step) runs on DeferredUnmap's thread; no operation is in
                // flight (the exchange above elected us after every flag read 0), so nothing of ours touches it again.
                _window.Dispose(deferUnmap: true);
            }
            ConnectTrace.Mark(ConnectStep.CloseUnmapped, _side);
        }
    }

    /// <summary>A flag on a line of its own: the sending and receiving threads each write theirs on every call.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 2 * Smp.PaddedLineSize)]
    private struct InFlightFlag
    {
        [FieldOffset(Smp.PaddedLineSize)]
        public int Value;
    }

    private void ThrowIfDisposed()
    {
        if (_disposed != 0)
        {
            ThrowDisposed();
        }
    }

    /// <summary>Names the public type: users hold an IicChannel, never this endpoint.</summary>
    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowDisposed() => throw new ObjectDisposedException(nameof(IicChannel), "This channel was disposed (on this side).");
}

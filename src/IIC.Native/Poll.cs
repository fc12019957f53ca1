using System.Globalization;
using System.Runtime.InteropServices;

namespace IIC.Native;

/// <summary>poll(2): waits until one of several descriptors is ready. The building block of an event loop.</summary>
public static unsafe class Poll
{
    /// <summary>
    /// Waits until at least one entry reports an event, or <paramref name="timeout"/> passes. Each entry's
    /// <see cref="PollEntry.ReturnedEvents"/> is set (to <see cref="PollEvents.None"/> if nothing happened on it).
    /// A signal that interrupts the wait (EINTR) does not end it: poll is called again with the time that is left,
    /// so 0 always means the timeout really passed.
    /// </summary>
    /// <param name="entries">The descriptors and events to watch; an empty span just waits for the timeout.</param>
    /// <param name="timeout">The longest wait: <see cref="TimeSpan.Zero"/> checks without waiting,
    /// <see cref="Timeout.InfiniteTimeSpan"/> waits without limit. Rounded up to whole milliseconds.</param>
    /// <returns>How many entries reported events; 0 when the timeout passed first.</returns>
    /// <exception cref="ArgumentOutOfRangeException">The timeout is negative and not infinite.</exception>
    /// <exception cref="NativeException">poll failed (EFAULT, ENOMEM, EINVAL for too many entries).</exception>
    public static int Wait(Span<PollEntry> entries, TimeSpan timeout)
    {
        LinuxPlatform.EnsureSupported();
        var deadline = Deadline.After(timeout);
        fixed (PollEntry* first = entries)
        {
            while (true)
            {
                var milliseconds = deadline.RemainingMilliseconds;
                var ready = Interop.Libc.Poll(first, (nuint)entries.Length, milliseconds);
                if (ready > 0)
                {
                    return ready;
                }
                if (ready == 0)
                {
                    // poll takes at most int.MaxValue ms; a longer (or clamped) wait goes round again.
                    if (deadline.HasPassed || milliseconds == 0)
                    {
                        return 0;
                    }
                    continue;
                }
                var errno = Marshal.GetLastPInvokeError();
                if (errno != Interop.Errno.EINTR)
                {
                    throw new NativeException(string.Create(CultureInfo.InvariantCulture, $"poll({entries.Length} entries, {milliseconds} ms)"), errno);
                }
                if (deadline.HasPassed)
                {
                    for (var i = 0; i < entries.Length; i++)
                    {
                        entries[i].ReturnedEvents = PollEvents.None;
                    }
                    return 0;
                }
            }
        }
    }

    /// <summary>Waits until <paramref name="descriptor"/> reports one of <paramref name="events"/> (or an error or hang-up), or the timeout passes.</summary>
    /// <param name="descriptor">The descriptor; it is kept open for the duration of the call.</param>
    /// <param name="events">The events to wait for.</param>
    /// <param name="timeout">As for <see cref="Wait"/>.</param>
    /// <returns>The events that happened; <see cref="PollEvents.None"/> when the timeout passed first.</returns>
    /// <exception cref="ObjectDisposedException">The descriptor was closed.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The timeout is negative and not infinite.</exception>
    /// <exception cref="NativeException">poll failed.</exception>
    public static PollEvents WaitOne(FileDescriptor descriptor, PollEvents events, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(descriptor);
        using var scope = new DescriptorScope(descriptor);
        Span<PollEntry> entry = [new PollEntry(scope.Fd, events)];
        return Wait(entry, timeout) == 0 ? PollEvents.None : entry[0].ReturnedEvents;
    }
}

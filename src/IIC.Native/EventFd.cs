using System.Globalization;
using System.Runtime.InteropServices;

namespace IIC.Native;

/// <summary>
/// A kernel event counter (eventfd(2)): <see cref="Signal"/> adds to it, a read takes it (or, in semaphore mode,
/// takes 1) and blocks while it is 0. The descriptor is close-on-exec and always non-blocking (EFD_NONBLOCK), so
/// <see cref="TryRead(out ulong)"/> never blocks even if another thread or process reads the same counter;
/// <see cref="Read"/> and the timed <see cref="TryRead(TimeSpan, out ulong)"/> wait with poll(2). The descriptor can be
/// polled (readable while the counter is not 0) and passed to another process over SCM_RIGHTS.
/// </summary>
public sealed unsafe class EventFd : IDisposable
{
    /// <summary>The largest counter value (2^64 - 2); a signal that would pass it waits until a read makes room.</summary>
    public const ulong MaxValue = ulong.MaxValue - 1;

    private readonly FileDescriptor _descriptor;

    /// <summary>Creates an event counter.</summary>
    /// <param name="initialValue">The counter's starting value.</param>
    /// <param name="semaphore">EFD_SEMAPHORE: each read takes 1 from the counter and returns 1, instead of taking it all.</param>
    /// <exception cref="NativeException">eventfd failed (EMFILE, ENFILE, ENOMEM).</exception>
    public EventFd(uint initialValue = 0, bool semaphore = false)
    {
        LinuxPlatform.EnsureSupported();
        var flags = Interop.Libc.EFD_CLOEXEC | Interop.Libc.EFD_NONBLOCK | (semaphore ? Interop.Libc.EFD_SEMAPHORE : 0);
        var fd = Interop.Libc.EventFd(initialValue, flags);
        NativeException.ThrowIfFailed(fd, string.Create(CultureInfo.InvariantCulture, $"eventfd({initialValue}, {(semaphore ? "EFD_SEMAPHORE" : "0")})"));
        _descriptor = new FileDescriptor(fd);
    }

    private EventFd(FileDescriptor descriptor) => _descriptor = descriptor;

    /// <summary>The eventfd's descriptor (owned by this object).</summary>
    public FileDescriptor Descriptor => _descriptor;

    /// <summary>
    /// Takes ownership of an eventfd descriptor received from elsewhere (e.g. over SCM_RIGHTS). The descriptor is
    /// checked to be an eventfd (/proc/self/fdinfo) and made non-blocking; O_NONBLOCK is a property of the shared
    /// open file, so this also affects other holders (counters made by <see cref="EventFd(uint, bool)"/> already are).
    /// </summary>
    /// <param name="descriptor">The descriptor; disposing the returned object closes it.</param>
    /// <exception cref="ArgumentException">The descriptor is not an eventfd.</exception>
    /// <exception cref="ObjectDisposedException">The descriptor was closed.</exception>
    /// <exception cref="NativeException">fcntl failed.</exception>
    public static EventFd FromDescriptor(FileDescriptor descriptor)
    {
        ArgumentNullException.ThrowIfNull(descriptor);
        LinuxPlatform.EnsureSupported();
        using (var scope = new DescriptorScope(descriptor))
        {
            string info;
            try
            {
                info = File.ReadAllText(string.Create(CultureInfo.InvariantCulture, $"/proc/self/fdinfo/{scope.Fd}"));
            }
            catch (IOException)
            {
                info = "";
            }
            if (!info.Contains("eventfd-count:", StringComparison.Ordinal))
            {
                throw new ArgumentException(string.Create(CultureInfo.InvariantCulture,
                    $"Descriptor {scope.Fd} is not an eventfd (its /proc/self/fdinfo has no eventfd-count); the peer sent something else."), nameof(descriptor));
            }
            var flags = NativeException.ThrowIfFailed(Interop.Libc.Fcntl(scope.Fd, Interop.Libc.F_GETFL, 0), string.Create(CultureInfo.InvariantCulture, $"fcntl({scope.Fd}, F_GETFL)"));
            if ((flags & Interop.Libc.O_NONBLOCK) == 0)
            {
                NativeException.ThrowIfFailed(Interop.Libc.Fcntl(scope.Fd, Interop.Libc.F_SETFL, flags | Interop.Libc.O_NONBLOCK), string.Create(CultureInfo.InvariantCulture, $"fcntl({scope.Fd}, F_SETFL, O_NONBLOCK)"));
            }
        }
        return new EventFd(descriptor);
    }

    /// <summary>Adds <paramref name="value"/> to the counter, waking readers; waits (poll) if the counter would pass <see cref="MaxValue"/>.</summary>
    /// <param name="value">The amount to add, at most <see cref="MaxValue"/>.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="value"/> is more than <see cref="MaxValue"/>.</exception>
    /// <exception cref="ObjectDisposedException">The counter was disposed.</exception>
    /// <exception cref="NativeException">write failed.</exception>
    public void Signal(ulong value = 1)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(value, MaxValue);
        using var scope = new DescriptorScope(_descriptor);
        while (true)
        {
            if (Interop.Libc.Write(scope.Fd, &value, sizeof(ulong)) == sizeof(ulong))
            {
                return;
            }
            var errno = Marshal.GetLastPInvokeError();
            if (errno == Interop.Errno.EAGAIN)
            {
                Poll.WaitOne(_descriptor, PollEvents.Writable, Timeout.InfiniteTimeSpan);
            }
            else if (errno != Interop.Errno.EINTR)
            {
                throw new NativeException(string.Create(CultureInfo.InvariantCulture, $"write(eventfd {scope.Fd}, {value})"), errno);
            }
        }
    }

    /// <summary>Waits until the counter is not 0, then takes it (or 1, in semaphore mode) and returns what it took.</summary>
    /// <exception cref="ObjectDisposedException">The counter was disposed.</exception>
    /// <exception cref="NativeException">read or poll failed.</exception>
    public ulong Read()
    {
        TryRead(Timeout.InfiniteTimeSpan, out var value);
        return value;
    }

    /// <summary>Takes the counter (or 1, in semaphore mode) if it is not 0; never blocks.</summary>
    /// <param name="value">What was taken; 0 when the counter was 0.</param>
    /// <returns>False when the counter was 0.</returns>
    /// <exception cref="ObjectDisposedException">The counter was disposed.</exception>
    /// <exception cref="NativeException">read failed.</exception>
    public bool TryRead(out ulong value) => TryRead(TimeSpan.Zero, out value);

    /// <summary>Waits at most <paramref name="timeout"/> until the counter is not 0, then takes it (or 1, in semaphore mode).</summary>
    /// <param name="timeout">The longest wait; <see cref="TimeSpan.Zero"/> does not wait, <see cref="Timeout.InfiniteTimeSpan"/> waits without limit.</param>
    /// <param name="value">What was taken; 0 when the timeout passed first.</param>
    /// <returns>False when the timeout passed with the counter still 0.</returns>
    /// <exception cref="ArgumentOutOfRangeException">The timeout is negative and not infinite.</exception>
    /// <exception cref="ObjectDisposedException">The counter was disposed.</exception>
    /// <exception cref="NativeException">read or poll failed.</exception>
    public bool TryRead(TimeSpan timeout, out ulong value)
    {
        var deadline = Deadline.After(timeout);
        using var scope = new DescriptorScope(_descriptor);
        ulong taken;
        while (true)
        {
            if (Interop.Libc.Read(scope.Fd, &taken, sizeof(ulong)) == sizeof(ulong))
            {
                value = taken;
                return true;
            }
            var errno = Marshal.GetLastPInvokeError();
            if (errno == Interop.Errno.EAGAIN)
            {
                if (deadline.HasPassed || timeout == TimeSpan.Zero || Poll.WaitOne(_descriptor, PollEvents.Readable, deadline.Remaining) == PollEvents.None)
                {
                    value = 0;
                    return false;
                }
            }
            else if (errno != Interop.Errno.EINTR)
            {
                throw new NativeException(string.Create(CultureInfo.InvariantCulture, $"read(eventfd {scope.Fd})"), errno);
            }
        }
    }

    /// <summary>Closes the descriptor (other processes holding a copy keep the counter alive).</summary>
    public void Dispose() => _descriptor.Dispose();
}

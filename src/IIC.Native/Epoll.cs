using System.Globalization;
using System.Runtime.InteropServices;

namespace IIC.Native;

/// <summary>
/// An epoll(7) instance watching descriptors for readability (and, on request, writability), each tagged with a 64-bit key. Descriptors are added
/// and removed from any thread while another waits, without waking it (what poll(2) cannot do). Level-triggered unless asked for edges.
/// </summary>
internal sealed unsafe class Epoll : IDisposable
{
    // struct epoll_event is packed on x86-64 (12 bytes: events at 0, data at 4) and naturally aligned elsewhere (16: data at 8).
    private static readonly int s_eventSize = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 12 : 16;
    private static readonly int s_dataOffset = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 4 : 8;

    private readonly FileDescriptor _descriptor;

    /// <exception cref="NativeException">epoll_create1 failed (EMFILE, ENFILE, ENOMEM).</exception>
    public Epoll()
    {
        LinuxPlatform.EnsureSupported();
        var fd = Interop.Libc.EpollCreate1(Interop.Libc.EPOLL_CLOEXEC);
        NativeException.ThrowIfFailed(fd, "epoll_create1(EPOLL_CLOEXEC)");
        _descriptor = new FileDescriptor(fd);
    }

    /// <summary>Watches <paramref name="descriptor"/> for readability, reported with <paramref name="key"/>.</summary>
    /// <param name="descriptor">The descriptor.</param>
    /// <param name="key">Reported by <see cref="Wait"/> when it is readable.</param>
    /// <param name="edgeTriggered">Report it once per arrival (EPOLLET) instead of for as long as it stays readable.</param>
    /// <exception cref="NativeException">epoll_ctl failed (ENOMEM, ENOSPC: max_user_watches).</exception>
    public void Add(FileDescriptor descriptor, ulong key, bool edgeTriggered = false) => Control(Interop.Libc.EPOLL_CTL_ADD, descriptor, key, Interop.Libc.EPOLLIN | (edgeTriggered ? Interop.Libc.EPOLLET : 0));

    /// <summary>
    /// Stops (<paramref name="readable"/> false) or resumes reporting a watched descriptor's readability (a hang-up or
    /// error is still reported), and starts or stops reporting its writability. Resuming reports it at once if it is
    /// readable (writable) then, also edge-triggered.
    /// </summary>
    /// <exception cref="NativeException">epoll_ctl failed (ENOENT: not watched).</exception>
    public void Modify(FileDescriptor descriptor, ulong key, bool readable, bool edgeTriggered = false, bool writable = false)
        => Control(Interop.Libc.EPOLL_CTL_MOD, descriptor, key,
            (readable ? Interop.Libc.EPOLLIN : 0) | (writable ? Interop.Libc.EPOLLOUT : 0) | (edgeTriggered ? Interop.Libc.EPOLLET : 0));

    private void Control(int operation, FileDescriptor descriptor, ulong key, uint events)
    {
        using var epoll = new DescriptorScope(_descriptor);
        using var target = new DescriptorScope(descriptor);
        var ev = stackalloc byte[16];
        *(uint*)ev = events;
        *(ulong*)(ev + s_dataOffset) = key;
        NativeException.ThrowIfFailed(Interop.Libc.EpollCtl(epoll.Fd, operation, target.Fd, ev),
            string.Create(CultureInfo.InvariantCulture, $"epoll_ctl({operation}, fd {target.Fd})"));
    }

    /// <summary>Stops watching <paramref name="descriptor"/> (before it is closed); a descriptor not watched is ignored.</summary>
    public void Remove(FileDescriptor descriptor)
    {
        using var epoll = new DescriptorScope(_descriptor);
        using var target = new DescriptorScope(descriptor);
        var ev = stackalloc byte[16];
        _ = Interop.Libc.EpollCtl(epoll.Fd, Interop.Libc.EPOLL_CTL_DEL, target.Fd, ev); // ENOENT: not watched
    }

    /// <summary>Waits until a watched descriptor is ready (or the timeout passes) and returns the keys of those that are.</summary>
    /// <returns>The number of keys written to <paramref name="keys"/> (0 at the timeout or on EINTR).</returns>
    /// <exception cref="NativeException">epoll_wait failed.</exception>
    public int Wait(Span<ulong> keys, TimeSpan timeout)
    {
        var max = Math.Min(keys.Length, 64);
        var events = stackalloc byte[64 * 16];
        var milliseconds = timeout == Timeout.InfiniteTimeSpan ? -1 : (int)Math.Min(int.MaxValue, Math.Ceiling(timeout.TotalMilliseconds));
        using var epoll = new DescriptorScope(_descriptor);
        var count = Interop.Libc.EpollWait(epoll.Fd, events, max, milliseconds);
        if (count < 0)
        {
            if (Marshal.GetLastPInvokeError() == Interop.Errno.EINTR)
            {
                return 0;
            }
            NativeException.ThrowIfFailed(count, "epoll_wait");
        }
        for (var i = 0; i < count; i++)
        {
            keys[i] = *(ulong*)(events + (i * s_eventSize) + s_dataOffset);
        }
        return count;
    }

    public void Dispose() => _descriptor.Dispose();
}

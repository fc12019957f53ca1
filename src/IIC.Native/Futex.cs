using System.Globalization;

namespace IIC.Native;

/// <summary>How a futex wait ended. Every outcome is a hint: the caller re-checks its condition.</summary>
public enum FutexWaitResult
{
    /// <summary>A wake was delivered (or, for futex_waitv, one of the words was woken).</summary>
    Woken,
    /// <summary>The word did not hold the expected value when the wait started (EAGAIN): it already changed.</summary>
    ValueChanged,
    /// <summary>The timeout elapsed (ETIMEDOUT).</summary>
    TimedOut,
    /// <summary>A signal interrupted the wait (EINTR).</summary>
    Interrupted,
}

/// <summary>One word for <see cref="Futex.WaitAny"/>: sleep while *<see cref="Address"/> == <see cref="Expected"/>.</summary>
internal readonly unsafe struct FutexWaitTarget : IEquatable<FutexWaitTarget>
{
    /// <summary>Creates a target.</summary>
    /// <param name="address">A 4-byte aligned word, normally in a shared mapping the caller keeps alive (leased).</param>
    /// <param name="expected">The value that means "nothing happened yet".</param>
    internal FutexWaitTarget(int* address, int expected)
    {
        Address = address;
        Expected = expected;
    }

    /// <summary>The word.</summary>
    internal int* Address { get; }

    /// <summary>The value to sleep on.</summary>
    public int Expected { get; }

    /// <inheritdoc />
    public bool Equals(FutexWaitTarget other) => Address == other.Address && Expected == other.Expected;

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is FutexWaitTarget other && Equals(other);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine((nint)Address, Expected);

    /// <summary>Equality.</summary>
    public static bool operator ==(FutexWaitTarget left, FutexWaitTarget right) => left.Equals(right);

    /// <summary>Inequality.</summary>
    public static bool operator !=(FutexWaitTarget left, FutexWaitTarget right) => !left.Equals(right);
}

/// <summary>
/// Futex wait and wake on shared words (no FUTEX_PRIVATE_FLAG: the words live in memory mapped by several
/// processes, so the kernel must key them by the underlying page, not by this address space).
/// Words must be 4-byte aligned and stay mapped for the duration of the call.
/// </summary>
public static unsafe class Futex
{
    /// <summary>The most words one <see cref="WaitAny"/> takes (FUTEX_WAITV_MAX).</summary>
    public const int MaxWaitAnyCount = 128;

    /// <summary>Sleeps while *<paramref name="address"/> == <paramref name="expected"/>, at most <paramref name="timeout"/>.</summary>
    /// <param name="address">The word (4-byte aligned, mapped for the duration of the call).</param>
    /// <param name="expected">Sleep only if the word still holds this value.</param>
    /// <param name="timeout">The longest sleep; <see cref="Timeout.InfiniteTimeSpan"/> for none.</param>
    /// <exception cref="ArgumentException">The address is null or misaligned, or the timeout is negative.</exception>
    /// <exception cref="NativeException">The kernel refused the call (e.g. EFAULT for an unmapped word).</exception>
    internal static FutexWaitResult Wait(int* address, int expected, TimeSpan timeout)
    {
        CheckAddress(address);
        Interop.Libc.Timespec relative;
        var timeoutArgument = (nint)0;
        if (timeout != Timeout.InfiniteTimeSpan)
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(timeout, TimeSpan.Zero);
            relative = ToTimespec(timeout);
            timeoutArgument = (nint)(&relative);
        }
        var result = Interop.Libc.Syscall(Interop.Libc.SysFutex, (nint)address, Interop.Libc.FUTEX_WAIT, expected, timeoutArgument, 0, 0);
        return result == 0 ? FutexWaitResult.Woken : WaitError("futex_wait", address);
    }

    /// <summary>Wakes at most <paramref name="count"/> threads sleeping on <paramref name="address"/>; returns how many woke.</summary>
    /// <exception cref="ArgumentException">The address is null or misaligned, or the count is not positive.</exception>
    /// <exception cref="NativeException">The kernel refused the call.</exception>
    internal static int Wake(int* address, int count = int.MaxValue)
    {
        CheckAddress(address);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        var result = Interop.Libc.Syscall(Interop.Libc.SysFutex, (nint)address, Interop.Libc.FUTEX_WAKE, count, 0, 0, 0);
        if (result == -1)
        {
            ThrowWakeFailed(address); // the message is built only on failure: waking allocates nothing
        }
        return (int)result;
    }

    /// <summary>Sleeps on the word at <paramref name="offset"/> of <paramref name="memory"/> (see <see cref="Wait(int*, int, TimeSpan)"/>).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The offset is outside the mapping.</exception>
    public static FutexWaitResult Wait(MappedMemory memory, long offset, int expected, TimeSpan timeout)
    {
        using var lease = Lease(memory, offset);
        return Wait((int*)(lease.Base + offset), expected, timeout);
    }

    /// <summary>Wakes sleepers on the word at <paramref name="offset"/> of <paramref name="memory"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The offset is outside the mapping.</exception>
    public static int Wake(MappedMemory memory, long offset, int count = int.MaxValue)
    {
        using var lease = Lease(memory, offset);
        return Wake((int*)(lease.Base + offset), count);
    }

    /// <summary>
    /// Sleeps until any of the words is woken or no longer holds its expected value (futex_waitv, Linux 5.16+).
    /// </summary>
    /// <param name="targets">1 to <see cref="MaxWaitAnyCount"/> words.</param>
    /// <param name="timeout">The longest sleep; <see cref="Timeout.InfiniteTimeSpan"/> for none.</param>
    /// <param name="wokenIndex">The index of the word that was woken, or -1.</param>
    /// <exception cref="ArgumentException">Too few or too many targets, or one is null or misaligned.</exception>
    /// <exception cref="NativeException">The kernel refused the call (ENOSYS before Linux 5.16).</exception>
    internal static FutexWaitResult WaitAny(ReadOnlySpan<FutexWaitTarget> targets, TimeSpan timeout, out int wokenIndex)
    {
        if (targets.Length is 0 or > MaxWaitAnyCount)
        {
            throw new ArgumentOutOfRangeException(nameof(targets), $"futex_waitv takes 1 to {MaxWaitAnyCount} words; got {targets.Length}. Split the words across several waits or use one shared word.");
        }
        var waiters = stackalloc Interop.Libc.FutexWaitV[targets.Length];
        for (var i = 0; i < targets.Length; i++)
        {
            CheckAddress(targets[i].Address);
            waiters[i] = new Interop.Libc.FutexWaitV { uaddr = (ulong)targets[i].Address, val = (uint)targets[i].Expected, flags = Interop.Libc.FUTEX_32 };
        }
        Interop.Libc.Timespec deadline;
        var timeoutArgument = (nint)0;
        if (timeout != Timeout.InfiniteTimeSpan)
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(timeout, TimeSpan.Zero);
            // futex_waitv takes an absolute deadline on the given clock.
            Interop.Libc.Timespec now;
            NativeException.ThrowIfFailed(Interop.Libc.ClockGetTime(Interop.Libc.CLOCK_MONOTONIC, &now), "clock_gettime(CLOCK_MONOTONIC)");
            var add = ToTimespec(timeout);
            deadline.tv_sec = now.tv_sec + add.tv_sec;
            deadline.tv_nsec = now.tv_nsec + add.tv_nsec;
            if (deadline.tv_nsec >= 1_000_000_000)
            {
                deadline.tv_sec++;
                deadline.tv_nsec -= 1_000_000_000;
            }
            timeoutArgument = (nint)(&deadline);
        }
        var result = Interop.Libc.Syscall(Interop.Libc.SysFutexWaitV, (nint)waiters, targets.Length, 0, timeoutArgument, Interop.Libc.CLOCK_MONOTONIC, 0);
        if (result >= 0)
        {
            wokenIndex = (int)result;
            return FutexWaitResult.Woken;
        }
        wokenIndex = -1;
        return WaitError("futex_waitv", targets[0].Address);
    }

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static void ThrowWakeFailed(int* address)
        => throw NativeException.FromLastError(string.Create(CultureInfo.InvariantCulture, $"futex_wake(0x{(nint)address:x})"));

    private static FutexWaitResult WaitError(string call, int* address)
    {
        var errno = System.Runtime.InteropServices.Marshal.GetLastPInvokeError();
        return errno switch
        {
            Interop.Errno.EAGAIN => FutexWaitResult.ValueChanged,
            Interop.Errno.ETIMEDOUT => FutexWaitResult.TimedOut,
            Interop.Errno.EINTR => FutexWaitResult.Interrupted,
            _ => throw new NativeException(string.Create(CultureInfo.InvariantCulture, $"{call}(0x{(nint)address:x})"), errno),
        };
    }

    private static Interop.Libc.Timespec ToTimespec(TimeSpan timeout)
    {
        var ticks = timeout.Ticks; // 100 ns
        return new Interop.Libc.Timespec { tv_sec = ticks / TimeSpan.TicksPerSecond, tv_nsec = ticks % TimeSpan.TicksPerSecond * 100 };
    }

    private static void CheckAddress(int* address)
    {
        if (address == null || ((nint)address & 3) != 0)
        {
            ThrowBadAddress(address);
        }
    }

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private static void ThrowBadAddress(int* address) =>
        throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"A futex word must be a non-null 4-byte aligned address; got 0x{(nint)address:x}."), nameof(address));

    private static MappingLease Lease(MappedMemory memory, long offset)
    {
        ArgumentNullException.ThrowIfNull(memory);
        _ = memory.ReadAcquireInt32(offset); // bounds and alignment check with a clear message
        return memory.Lease();
    }
}

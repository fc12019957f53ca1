using System.Runtime.InteropServices;

namespace IIC.Native;

/// <summary>
/// membarrier(2) across processes: <c>MEMBARRIER_CMD_GLOBAL_EXPEDITED</c> makes every running thread of every
/// process that registered for it (<c>MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED</c>) execute a full memory barrier
/// (an IPI to each CPU that runs one; a thread that is not running passed one in its context switch) before the
/// call returns. That is the heavy half of an asymmetric fence: the frequent side of a Dekker pair leaves its fence
/// out (a plain store, then a load), and the rare side stores, calls <see cref="GlobalExpedited"/>, then loads. The
/// runtime's <c>Interlocked.MemoryBarrierProcessWide</c> (and liburcu's urcu-memb, Folly's asymmetric barrier) use
/// the process-private command, which does not reach the peer process of a shared window; this is the global one.
/// <para>This process registers once, on first use. <see cref="IsAvailable"/> is true only when the kernel offers
/// both commands and the registration succeeded (no seccomp filter refused it, kernel 4.16 or later): only then
/// may this process's writers leave out their publish fence, and only then do its readers promise the heavy fence.
/// <c>IIC_ASYMMETRIC_FENCE=0</c> in the environment turns it off (today's fenced exchange everywhere), for A/B
/// measurements and for deployments that want no IPIs.</para>
/// </summary>
internal static class Membarrier
{
    private const int CmdQuery = 0;
    private const int CmdGlobalExpedited = 1 << 1;
    private const int CmdRegisterGlobalExpedited = 1 << 2;

    private static long SysMembarrier => RuntimeInformation.ProcessArchitecture == Architecture.Arm64 ? 283 : 324;

    /// <summary>Whether this process is registered for, and may issue, global expedited barriers.</summary>
    public static bool IsAvailable { get; } = Register();

    /// <summary>Global expedited barriers issued (for tests and diagnostics; relaxed count).</summary>
    public static long Issued => Volatile.Read(ref s_issued);

    /// <summary>Calls that the kernel refused after the registration had succeeded (ENOMEM in theory; relaxed count).</summary>
    public static long Failures => Volatile.Read(ref s_failures);

    private static long s_issued;
    private static long s_failures;

    /// <summary>
    /// Issues a global expedited barrier: when it returns, every thread of every registered process that was
    /// running has executed a full barrier after this thread's earlier stores became visible.
    /// </summary>
    /// <returns>False when the kernel refused (the caller must treat the barrier as missing).</returns>
    public static bool GlobalExpedited()
    {
        if (!IsAvailable)
        {
            return false;
        }
        Interlocked.Increment(ref s_issued);
        if (Interop.Libc.Syscall(SysMembarrier, CmdGlobalExpedited, 0, 0, 0, 0, 0) == 0)
        {
            return true;
        }
        Interlocked.Increment(ref s_failures);
        return false;
    }

    private static bool Register()
    {
        if (!LinuxPlatform.IsSupported || Environment.GetEnvironmentVariable("IIC_ASYMMETRIC_FENCE") == "0")
        {
            return false;
        }
        var commands = Interop.Libc.Syscall(SysMembarrier, CmdQuery, 0, 0, 0, 0, 0);
        const long needed = CmdGlobalExpedited | CmdRegisterGlobalExpedited;
        return commands >= 0 && (commands & needed) == needed
            && Interop.Libc.Syscall(SysMembarrier, CmdRegisterGlobalExpedited, 0, 0, 0, 0, 0) == 0;
    }
}

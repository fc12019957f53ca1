using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.InteropServices;
using IIC.Native;

namespace IIC.TestHost;

/// <summary>
/// Child sides of the IIC.Native tests. Each returns 0 when its checks pass; a failed check throws, which the
/// host reports on stderr with exit code 70. Every wait is bounded by <see cref="ParentChannel.Timeout"/>.
/// </summary>
internal static unsafe class NativeScenarios
{
    // futex-park and futex-waitv layout of the shared page (the parent uses the same offsets).
    private const int WordOffset = 0;
    private const int AddressOffset = 8;
    private const int StateOffset = 16;
    private const int AboutToPark = 1;

    /// <summary>Exits with the code given as the first argument (tests the harness's exit-code check).</summary>
    [Scenario("exit-with")]
    private static int ExitWith(string[] args)
    {
        Console.Error.WriteLine($"exiting with {args[0]} as asked");
        return int.Parse(args[0], CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// Receives a sealed memfd and an eventfd in one SCM_RIGHTS message (data: the memfd's size), checks the seals
    /// and size, maps it, checks the parent's bytes [0, 64) = i*3+1, writes [64, 128) = 255-i, signals the eventfd.
    /// </summary>
    [Scenario("memfd-map")]
    private static int MemfdMap(string[] args)
    {
        using var control = ParentChannel.Connect();
        var descriptors = new List<FileDescriptor>();
        Span<byte> message = stackalloc byte[16];
        var length = ParentChannel.Receive(control, message, descriptors);
        Check(length == sizeof(long), $"expected an 8-byte message, got {length}");
        Check(descriptors.Count == 2, $"expected 2 descriptors in one message, got {descriptors.Count}");
        using var file = descriptors[0];
        using var done = EventFd.FromDescriptor(descriptors[1]);
        var size = BinaryPrimitives.ReadInt64LittleEndian(message);
        Check(file.CloseOnExec, "a received descriptor should be close-on-exec (MSG_CMSG_CLOEXEC)");
        var seals = MemoryFile.GetSeals(file);
        Check(seals.HasFlag(FileSeals.Shrink | FileSeals.Grow | FileSeals.Seal), $"expected shrink, grow and seal seals, got {seals}");
        Check(file.GetStatus().Size == size, $"expected size {size}, fstat says {file.GetStatus().Size}");
        using var memory = MappedMemory.Map(file, size);
        var parentBytes = memory.GetSpan(0, 64);
        for (var i = 0; i < 64; i++)
        {
            Check(parentBytes[i] == (byte)(i * 3 + 1), $"byte {i} is {parentBytes[i]}, expected {(byte)(i * 3 + 1)}");
        }
        var reply = memory.GetSpan(64, 64);
        for (var i = 0; i < 64; i++)
        {
            reply[i] = (byte)(255 - i);
        }
        done.Signal(1);
        return 0;
    }

    /// <summary>
    /// Receives a memfd, publishes the address of its word 0 and "about to park", then sleeps on the word with
    /// futex_wait until it changes. Succeeds only if the last wait ended with a wake and the word is now 1.
    /// </summary>
    [Scenario("futex-park")]
    private static int FutexPark(string[] args)
    {
        using var memory = ReceiveMapping(out var lease);
        using var _ = lease;
        var word = (int*)(lease.Base + WordOffset);
        memory.WriteReleaseInt64(AddressOffset, (long)word);
        memory.WriteReleaseInt32(StateOffset, AboutToPark);
        var deadline = DateTime.UtcNow + ParentChannel.Timeout;
        var results = new List<FutexWaitResult>();
        while (Volatile.Read(ref *word) == 0 && DateTime.UtcNow < deadline)
        {
            results.Add(Futex.Wait(word, 0, deadline - DateTime.UtcNow));
        }
        Check(Volatile.Read(ref *word) == 1, $"the word is {Volatile.Read(ref *word)}, expected 1; waits: {string.Join(", ", results)}");
        Check(results.Count > 0 && results[^1] == FutexWaitResult.Woken, $"expected the last wait to end with a wake; waits: {string.Join(", ", results)}");
        return 0;
    }

    /// <summary>
    /// Receives a memfd and sleeps on its words 0, 1 and 2 at once with futex_waitv. Succeeds only if the wait
    /// was woken through word 2 and word 2 holds 7.
    /// </summary>
    [Scenario("futex-waitv")]
    private static int FutexWaitV(string[] args)
    {
        using var memory = ReceiveMapping(out var lease);
        using var _ = lease;
        var words = (int*)(lease.Base + WordOffset);
        FutexWaitTarget[] targets = [new(words, 0), new(words + 1, 0), new(words + 2, 0)];
        memory.WriteReleaseInt32(StateOffset, AboutToPark);
        var deadline = DateTime.UtcNow + ParentChannel.Timeout;
        FutexWaitResult result;
        int index;
        do
        {
            result = Futex.WaitAny(targets, deadline - DateTime.UtcNow, out index);
        }
        while (result == FutexWaitResult.Interrupted && DateTime.UtcNow < deadline);
        Check(result == FutexWaitResult.Woken && index == 2, $"expected a wake through word 2, got {result} at index {index}");
        Check(Volatile.Read(ref words[2]) == 7, $"word 2 is {Volatile.Read(ref words[2])}, expected 7");
        return 0;
    }

    /// <summary>Prints "ready", then waits for a line on stdin; exits 0 if it is "exit".</summary>
    [Scenario("wait-stdin")]
    private static int WaitStdin(string[] args)
    {
        Console.WriteLine("ready");
        var line = Console.In.ReadLine();
        Check(line == "exit", $"expected 'exit' on stdin, got '{line}'");
        return 0;
    }

    /// <summary>Connects to the parent, sends its own pid, effective uid and gid, waits for the parent's "bye".</summary>
    [Scenario("peer-credentials")]
    private static int PeerCredentialsScenario(string[] args)
    {
        using var control = ParentChannel.Connect();
        var me = Credentials.Current;
        Span<byte> message = stackalloc byte[12];
        BinaryPrimitives.WriteInt32LittleEndian(message, me.Pid);
        BinaryPrimitives.WriteUInt32LittleEndian(message[4..], me.Uid);
        BinaryPrimitives.WriteUInt32LittleEndian(message[8..], me.Gid);
        control.Send(message);
        Span<byte> bye = stackalloc byte[8];
        var length = ParentChannel.Receive(control, bye);
        Check(bye[..length].SequenceEqual("bye"u8), "expected 'bye' from the parent");
        return 0;
    }

    /// <summary>
    /// Allocates a 64-byte buffer filled with i ^ 0x5a, prints its address, waits for "check" on stdin, then
    /// verifies the parent wrote i * 11 + 7 into it with process_vm_writev.
    /// </summary>
    [Scenario("vm-target")]
    private static int VmTarget(string[] args)
    {
        var buffer = (byte*)NativeMemory.Alloc(64);
        try
        {
            for (var i = 0; i < 64; i++)
            {
                buffer[i] = (byte)(i ^ 0x5a);
            }
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"0x{(nint)buffer:x}"));
            var line = Console.In.ReadLine();
            Check(line == "check", $"expected 'check' on stdin, got '{line}'");
            for (var i = 0; i < 64; i++)
            {
                Check(buffer[i] == (byte)(i * 11 + 7), $"byte {i} is {buffer[i]}, expected {(byte)(i * 11 + 7)}");
            }
            return 0;
        }
        finally
        {
            NativeMemory.Free(buffer);
        }
    }

    private static MappedMemory ReceiveMapping(out MappingLease lease)
    {
        using var control = ParentChannel.Connect();
        var descriptors = new List<FileDescriptor>();
        Span<byte> message = stackalloc byte[16];
        var length = ParentChannel.Receive(control, message, descriptors);
        Check(length == sizeof(long) && descriptors.Count == 1, $"expected an 8-byte message with 1 descriptor, got {length} bytes and {descriptors.Count}");
        using var file = descriptors[0];
        var memory = MappedMemory.Map(file, BinaryPrimitives.ReadInt64LittleEndian(message));
        lease = memory.Lease();
        return memory;
    }

    private static void Check(bool condition, string failure)
    {
        if (!condition)
        {
            throw new InvalidOperationException(failure);
        }
    }
}

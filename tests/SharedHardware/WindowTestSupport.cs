using IIC.Hardware;
using IIC.Native;

namespace IIC.Tests;

/// <summary>Helpers for tests that hold a <see cref="SharedWindow"/>: zero-copy checks, children given the window, forged copies.</summary>
internal static class WindowTestSupport
{
    /// <summary>Whether <paramref name="span"/> lies inside the window's mapping (zero copy: the reader hands out the ring itself).</summary>
    public static unsafe bool IsInside(SharedWindow window, ReadOnlySpan<byte> span)
    {
        using var lease = window.Lease();
        fixed (byte* p = span)
        {
            return p >= lease.Base && p + span.Length <= lease.Base + window.Size;
        }
    }

    /// <summary>Starts a child scenario and hands it the window's memfd over the control socket.</summary>
    public static ChildProcess StartChild(SharedWindow window, string scenario, params string[] args)
    {
        var child = ChildProcess.Start(scenario, args);
        try
        {
            child.Send("window"u8, window.File);
            return child;
        }
        catch
        {
            child.Dispose();
            throw;
        }
    }

    /// <summary>Copies the window's bytes into a fresh memfd (sealed unless told otherwise), lets the caller corrupt them, and returns the fd.</summary>
    public static FileDescriptor ForgeCopy(SharedWindow original, Action<MappedMemory> corrupt, long? size = null, FileSeals seals = SharedWindow.RequiredSeals)
    {
        var length = size ?? original.Size;
        var file = MemoryFile.Create("forged-window");
        try
        {
            MemoryFile.SetSize(file, length);
            using (var memory = MappedMemory.Map(file, length))
            {
                var copy = (int)Math.Min(length, original.Size);
                original.Memory.GetSpan(0, copy).CopyTo(memory.GetSpan(0, copy));
                corrupt(memory);
            }
            if (seals != 0)
            {
                MemoryFile.AddSeals(file, seals);
            }
            return file;
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }
}

using System.Globalization;
using IIC.Native;

namespace IIC.Hardware;

/// <summary>
/// Memory shared between partitions: a memfd of fixed size, sealed against shrinking and growing (a peer that
/// could shrink it would crash every other mapper with SIGBUS) and against further seals, mapped shared.
/// </summary>
internal static class SealedMemory
{
    /// <summary>The seals every shared file must carry.</summary>
    public const FileSeals RequiredSeals = FileSeals.Shrink | FileSeals.Grow | FileSeals.Seal;

    /// <summary>Creates, sizes, seals and maps a new file; the caller owns both results.</summary>
    /// <exception cref="NativeException">The kernel refused (EMFILE, ENOMEM...).</exception>
    public static (FileDescriptor File, MappedMemory Memory) Create(string name, long size)
    {
        var file = CreateUnmapped(name, size);
        try
        {
            return (file, MappedMemory.Map(file, size, populate: false)); // commit pages as they are written (issue 12): the creator writes only headers
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Creates, sizes and seals a new file without mapping it (the hypervisor's windows: it writes their headers with
    /// pwrite, <see cref="HeldWindow"/>); the caller owns it.
    /// </summary>
    /// <exception cref="NativeException">The kernel refused (EMFILE, ENOMEM...).</exception>
    public static FileDescriptor CreateUnmapped(string name, long size)
    {
        var file = MemoryFile.Create(name);
        try
        {
            MemoryFile.SetSize(file, size);
            MemoryFile.AddSeals(file, RequiredSeals);
            return file;
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Maps a file received from another process after checking that it is a memfd carrying
    /// <see cref="RequiredSeals"/> and that its size is in [<paramref name="minSize"/>, <paramref name="maxSize"/>].
    /// </summary>
    /// <param name="file">The descriptor (still owned by the caller).</param>
    /// <param name="minSize">The smallest acceptable size.</param>
    /// <param name="maxSize">The largest acceptable size.</param>
    /// <param name="what">What the file should be, for messages ("window", "interrupt group").</param>
    /// <exception cref="InvalidDataException">It is not such a file.</exception>
    public static MappedMemory Open(FileDescriptor file, long minSize, long maxSize, string what)
    {
        FileSeals seals;
        try
        {
            seals = MemoryFile.GetSeals(file);
        }
        catch (NativeException e)
        {
            throw new InvalidDataException($"The descriptor is not a sealed memfd {what} ({e.Message}).", e);
        }
        if ((seals & RequiredSeals) != RequiredSeals)
        {
            throw new InvalidDataException($"The {what} is not sealed against resizing (seals: {seals}; required: {RequiredSeals}). Refusing to map memory a peer could shrink under us.");
        }
        var size = file.GetStatus().Size;
        if (size < minSize || size > maxSize)
        {
            throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture,
                $"A {what} of {size} bytes is outside the possible sizes ({minSize} to {maxSize})."));
        }
        return MappedMemory.Map(file, size, populate: false); // no whole-window pre-faulting: pages are committed as the rings use them
    }
}

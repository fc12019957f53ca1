using IIC.Native;
using static IIC.Tests.TestSupport;
using static IIC.Tests.WindowTestSupport;

namespace IIC.Hardware.Tests;

/// <summary>SharedWindow.Open checks seals, size and every header word before trusting anything.</summary>
public sealed class WindowTests : IDisposable
{
    private readonly SharedWindow _window = SharedWindow.Create(WindowOptions.WithCapacity(4096));

    public void Dispose() => _window.Dispose();

    [Fact]
    public void Created_window_has_the_documented_header_and_reopens()
    {
        var m = _window.Memory;
        Assert.Equal(SharedWindow.Magic, (ulong)m.ReadAcquireInt64(0));
        Assert.Equal("IICWIN01"u8.ToArray(), m.GetSpan(0, 8).ToArray());
        Assert.Equal(2, m.ReadAcquireInt32(8)); // layout version 2: 64-byte records, headers cleared by the consumer
        Assert.Equal(512, m.ReadAcquireInt32(12));
        Assert.Equal(_window.Size, m.ReadAcquireInt64(16));
        Assert.Equal(2, m.ReadAcquireInt32(24));
        Assert.Equal(2, m.ReadAcquireInt32(28));
        Assert.Equal(_window.GetRing(0).Offset, m.ReadAcquireInt64(32));
        Assert.Equal(4096, m.ReadAcquireInt32(40));
        Assert.Equal(_window.GetRing(1).Offset, m.ReadAcquireInt64(48));
        Assert.Equal(512, m.ReadAcquireInt64(64)); // interrupt block 0 right after the header
        Assert.Equal(64, m.ReadAcquireInt32(72));
        Assert.Equal(0, m.ReadAcquireInt32(76));
        Assert.Equal((int)InterruptPage.Magic, m.ReadAcquireInt32(512));
        Assert.Equal(0, _window.Size % 4096);
        Assert.Equal(SharedWindow.RequiredSeals, MemoryFile.GetSeals(_window.File) & SharedWindow.RequiredSeals);

        using var copy = SharedWindow.Open(ForgeCopy(_window, _ => { }));
        Assert.Equal(_window.Size, copy.Size);
        Assert.Equal(_window.GetRing(1).Offset, copy.GetRing(1).Offset);
        Assert.Equal(SideState.Empty, copy.ReadSide(0).State);
    }

    [Fact]
    public void Side_blocks_record_attach_close_and_death()
    {
        _window.MarkAttached(1, 4242);
        Assert.Equal(new SideStatus(SideState.Attached, 0, 4242), _window.ReadSide(1));
        Assert.Equal(1, _window.Memory.ReadAcquireInt32(128 + 128)); // side 1's state word
        Assert.Equal(4242, _window.Memory.ReadAcquireInt32(128 + 128 + 8));
        _window.MarkDead(1);
        Assert.Equal(new SideStatus(SideState.Dead, 1, 4242), _window.ReadSide(1));
        _window.MarkAttached(0, 17);
        _window.MarkClosed(0);
        Assert.Equal(SideState.Closed, _window.ReadSideState(0));
        _window.MarkDead(0); // a clean close stays a close
        Assert.Equal(new SideStatus(SideState.Closed, 0, 17), _window.ReadSide(0));
        _window.Memory.WriteReleaseInt32(128, 77); // garbage state reads as dead
        Assert.Equal(SideState.Dead, _window.ReadSideState(0));
    }

    [Fact]
    public void Open_refuses_an_unsealed_or_partly_sealed_memfd()
    {
        var e = Assert.Throws<InvalidDataException>(() => SharedWindow.Open(ForgeCopy(_window, _ => { }, seals: 0)));
        Assert.Contains("not sealed against resizing", e.Message, StringComparison.Ordinal);
        e = Assert.Throws<InvalidDataException>(() => SharedWindow.Open(ForgeCopy(_window, _ => { }, seals: FileSeals.Shrink | FileSeals.Seal)));
        Assert.Contains("not sealed against resizing", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Open_refuses_a_file_of_the_wrong_size()
    {
        var e = Assert.Throws<InvalidDataException>(() => SharedWindow.Open(ForgeCopy(_window, _ => { }, size: _window.Size + 4096)));
        Assert.Contains($"file has {_window.Size + 4096}", e.Message, StringComparison.Ordinal);
        e = Assert.Throws<InvalidDataException>(() => SharedWindow.Open(ForgeCopy(_window, _ => { }, size: 1024)));
        Assert.Contains("outside the possible sizes", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Open_refuses_a_descriptor_that_is_not_a_memfd()
    {
        var path = Path.GetTempFileName();
        try
        {
            using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite);
            var fd = new FileDescriptor((int)handle.DangerousGetHandle(), ownsHandle: false);
            var e = Assert.Throws<InvalidDataException>(() => SharedWindow.Open(fd));
            // EINVAL from F_GET_SEALS on most file systems; tmpfs files answer with F_SEAL_SEAL alone.
            Assert.Matches("not a sealed memfd window|not sealed against resizing", e.Message);
        }
        finally
        {
            File.Delete(path);
        }
    }

    public static TheoryData<string, string> Corruptions => new()
    {
        { "magic", "magic 0x" },
        { "version", "version 1" },
        { "header size", "header 1024 bytes" },
        { "total size", "size 12345" },
        { "ring count", "3 rings" },
        { "side count", "1 sides" },
        { "capacity not a power of two", "Ring 0 has capacity 3000" },
        { "capacity too small", "Ring 1 has capacity 512" },
        { "capacity too large for the window", "ring 0 at offset" },
        { "ring outside the window", "ring 1 at offset 1099511627776" },
        { "ring offset negative", "ring 0 at offset -4096" },
        { "ring misaligned", "not a 128-aligned region" },
        { "ring inside the header", "ring 0 at offset 256" },
        { "rings overlap", "overlap" },
        { "ring over an interrupt block", "overlap" },
        { "interrupt blocks overlap", "overlap" },
        { "interrupt block outside the window", "interrupt block 1 at offset" },
        { "vector outside the block", "names vector 64" },
        { "interrupt page magic", "Not a valid interrupt page: magic 0x00000000" },
        { "interrupt page version", "version 9" },
        { "interrupt page vector count", "100 vectors" },
        { "interrupt page too many vectors", "8192 vectors" },
    };

    [Theory]
    [MemberData(nameof(Corruptions))]
    public void Open_refuses_a_corrupt_header_word_and_names_it(string corruption, string expected)
    {
        var ring0 = _window.GetRing(0).Offset;
        Action<MappedMemory> corrupt = corruption switch
        {
            "magic" => m => m.WriteReleaseInt64(0, 0x1234),
            "version" => m => m.WriteReleaseInt32(8, 1),
            "header size" => m => m.WriteReleaseInt32(12, 1024),
            "total size" => m => m.WriteReleaseInt64(16, 12345),
            "ring count" => m => m.WriteReleaseInt32(24, 3),
            "side count" => m => m.WriteReleaseInt32(28, 1),
            "capacity not a power of two" => m => m.WriteReleaseInt32(40, 3000),
            "capacity too small" => m => m.WriteReleaseInt32(56, 512),
            "capacity too large for the window" => m => m.WriteReleaseInt32(40, 1 << 24),
            "ring outside the window" => m => m.WriteReleaseInt64(48, 1L << 40),
            "ring offset negative" => m => m.WriteReleaseInt64(32, -4096),
            "ring misaligned" => m => m.WriteReleaseInt64(32, ring0 + 64),
            "ring inside the header" => m => m.WriteReleaseInt64(32, 256),
            "rings overlap" => m => m.WriteReleaseInt64(48, ring0 + 1024),
            "ring over an interrupt block" => m => m.WriteReleaseInt64(32, 512 + 128),
            "interrupt blocks overlap" => m => m.WriteReleaseInt64(80, 512),
            "interrupt block outside the window" => m => m.WriteReleaseInt64(80, m.Length),
            "vector outside the block" => m => m.WriteReleaseInt32(76, 64),
            "interrupt page magic" => m => m.WriteReleaseInt32(512, 0),
            "interrupt page version" => m => m.WriteReleaseInt32(512 + 4, 9),
            "interrupt page vector count" => m => m.WriteReleaseInt32(512 + 8, 100),
            "interrupt page too many vectors" => m => m.WriteReleaseInt32(512 + 8, 8192),
            _ => throw new ArgumentOutOfRangeException(nameof(corruption)),
        };
        var e = Assert.Throws<InvalidDataException>(() => SharedWindow.Open(ForgeCopy(_window, corrupt)));
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Create_refuses_a_bad_capacity()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => SharedWindow.Create(WindowOptions.WithCapacity(3000)));
        Assert.Throws<ArgumentOutOfRangeException>(() => SharedWindow.Create(new WindowOptions { RingCapacity0 = 4096, RingCapacity1 = 512 }));
    }
}

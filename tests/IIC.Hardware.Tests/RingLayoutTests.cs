using System.Runtime.CompilerServices;

namespace IIC.Hardware.Tests;

/// <summary>
/// Issue 17 (round 7, branch hop): a ring writer's and a ring reader's per-message words end their object with a line
/// pair of padding after them, so two such objects allocated back to back (as a WindowEndpoint does, for a sending and
/// a receiving thread) never put those words within a line pair of each other. Checks the runtime's field order.
/// </summary>
public sealed class RingLayoutTests
{
    [Fact]
    public void The_padding_is_a_line_pair()
    {
        Assert.Equal(Smp.PaddedLineSize, Unsafe.SizeOf<LinePairPadding>());
    }

    [Fact]
    public void Writer_and_reader_hot_words_come_before_their_trailing_padding()
    {
        using var window = SharedWindow.Create(WindowOptions.WithCapacity(4096));
        var ring = window.GetRing(0);
        var writer = ring.CreateWriter();
        var reader = ring.CreateReader();
        Assert.True(writer.HotWordsToTrailingPadding() > 0, $"writer: {writer.HotWordsToTrailingPadding()} B");
        Assert.True(reader.HotWordsToTrailingPadding() > 0, $"reader: {reader.HotWordsToTrailingPadding()} B");
    }
}

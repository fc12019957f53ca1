using System.Diagnostics;
using IIC.Hardware;
using IIC.Native;

namespace IIC.Transport;

/// <summary>
/// The large-message (fragment) paths' sizing and room wait, and their A/B switches, read once per process
/// (perf/RESULTS.md, branches bw and frag).
/// </summary>
internal sealed partial class WindowEndpoint
{
    /// <summary>
    /// Whether Poll's reassembly returns each fragment's space to the writer as soon as it is copied out (default), or
    /// only when it finds no further fragment (as before round 7). <c>IIC_FRAGMENT_PUBLISH=0</c> in the environment
    /// starts the process with the old behaviour: the A/B switch for perf/IIC.Perf's sizes test (perf/RESULTS.md).
    /// </summary>
    internal static bool PublishEachFragment { get; } = Environment.GetEnvironmentVariable("IIC_FRAGMENT_PUBLISH") != "0";

    /// <summary>
    /// A fragment's record is this fraction of the ring (8: an eighth, the default; Agrona's ring buffer caps a message
    /// at an eighth of its capacity for the same reason). The ring then holds seven fragments beside the Abandon
    /// reserve, so the writer fills one slot while the reader copies out another; with the largest record (a quarter,
    /// before round 7) it held three, and a fragment that met the ring's end cost up to a quarter of it in padding.
    /// <c>IIC_FRAGMENT_FRACTION=4</c> restores the old size (and the old first fragment:
    /// see <see cref="FirstFragmentRecordLength"/>); 16 and 32 are accepted for experiments, anything else means 8.
    /// Either way the wire format is the same: the receiver takes fragments of any length up to the largest record.
    /// </summary>
    internal static int FragmentFraction { get; } = ParseFragmentFraction(Environment.GetEnvironmentVariable("IIC_FRAGMENT_FRACTION"));

    /// <summary>
    /// Whether a sender waiting for room for its next fragment spins without offering the CPU for 50 µs
    /// (default), or yields every 64 spin rounds from the start as the one-record
    /// path does (<c>IIC_FRAGMENT_ROOM_SPIN=0</c>, the behaviour before round 7).
    /// </summary>
    internal static bool SpinForFragmentRoom { get; } = Environment.GetEnvironmentVariable("IIC_FRAGMENT_ROOM_SPIN") != "0";

    private static int ParseFragmentFraction(string? text) => text switch
    {
        "4" => 4,
        "16" => 16,
        "32" => 32,
        _ => 8,
    };

    /// <summary>
    /// The record length (header included) of every fragment but the first and the last on a ring of
    /// <paramref name="capacity"/> bytes: a power of two, <see cref="FragmentFraction"/> of the ring (at least two record
    /// lines), never above the largest record. Records at multiples of it never straddle the ring's end, so fragments
    /// after the first need no padding.
    /// </summary>
    /// <param name="capacity">The ring's capacity (a power of two, at least <see cref="DescriptorRing.MinCapacity"/>).</param>
    /// <param name="fraction">The fraction (<see cref="FragmentFraction"/>).</param>
    internal static int FragmentRecordLength(int capacity, int fraction)
        => Math.Min(Math.Max(capacity / fraction, 2 * DescriptorRing.RecordAlignment), capacity / DescriptorRing.MaxRecordFraction);

    /// <summary>
    /// The first fragment's record length when the writer's tail is at <paramref name="position"/>: it ends on a
    /// multiple of <paramref name="fragmentRecord"/>, so the ones that follow start aligned (no padding at the ring's
    /// end, no slot lost to it each lap). Between half and one and a half fragments, so never above the largest record
    /// (a quarter of the ring) when fragments are an eighth or less; with larger fragments (the old size, a quarter)
    /// the first is a whole one, as before.
    /// </summary>
    /// <param name="position">The writer's own tail (never read from shared memory): line-aligned.</param>
    /// <param name="fragmentRecord">From <see cref="FragmentRecordLength(int, int)"/>: a power of two of at least two lines.</param>
    /// <param name="maxRecord">The ring's largest record.</param>
    internal static int FirstFragmentRecordLength(long position, int fragmentRecord, int maxRecord)
    {
        if (fragmentRecord * 3 / 2 > maxRecord)
        {
            return fragmentRecord;
        }
        var intoSlot = (int)(position & (fragmentRecord - 1)); // line-aligned: so is the result
        var length = fragmentRecord - intoSlot;
        return length < fragmentRecord / 2 ? length + fragmentRecord : length;
    }

    /// <summary>
    /// Back pressure for the next fragment (SendFragmented): waits until a record of <paramref name="payloadLength"/>
    /// fits: <see cref="WaitForRoom"/> with its quiet spin (50 µs without offering the CPU: the reader frees a slot
    /// within a few µs while both run, an eighth of a 1 MiB ring copied out), or, with <c>IIC_FRAGMENT_ROOM_SPIN=0</c>,
    /// the one-record policy.
    /// </summary>
    private bool WaitForFragmentRoom(int payloadLength, Deadline deadline, CancellationToken cancellationToken)
        => WaitForRoom(payloadLength, deadline, cancellationToken, quietSpin: SpinForFragmentRoom);
}
